// An integer program: what a packed model file (.lbm) holds and what the runtime runs. A flat list
// of operations over numbered values, value 0 being the input image; the last operation's output
// is the logits. Every value between operations is an int32 in fixed point with
// kFractionBits fraction bits, as in the training library's integer-only inference
// (models/transforms/integer_model.h), which compiles a quantized model to this form.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/runtime/fixed_point.h"

namespace lowbit::runtime {

// v = k 2^-22: values up to +-512 at a resolution of 2.4e-7 (integer_model.h says why 22).
constexpr int kFractionBits = 22;

enum class OpKind : uint32_t {
  kProduct = 1,        // a quantized convolution or linear layer (ProductOp)
  kClamp = 2,          // y = min(max(x, 0), high): ReLU (high = INT32_MAX) and ReLU6
  kMaxPool = 3,        // kernel, stride, padding (padding reads -infinity)
  kAvgPool = 4,        // the same, padding counted as zeros (count_include_pad)
  kGlobalAvgPool = 5,  // (C, H, W) -> (C)
  kPadChannels = 6,    // option-A shortcut: y[c, i, j] = x[c, i s, j s] for c < C, else 0
  kFlatten = 7,        // (C, H, W) -> (C H W) in C, H, W order
  kReshape = 8,        // to `dims` (the float model's, batch first: 0 keeps, -1 infers)
  kAdd = 9,            // two values of one shape, saturated to int32
  kConcat = 10,        // along `axis` of the float model's (N, ...) values
  kLevels = 11,        // the power-of-two activation: thresholds to levels (core/runtime/levels.h)
  kThresholds = 12,    // BN + activation folded into per-channel accumulator thresholds
                       // (core/runtime/thresholds.h); a second input: the residual shortcut
  kWideProduct = 13,   // a float layer with its BN and activation folded (thresholds.h WideProduct)
  kFloatJoin = 14,     // a projection block's two accumulators, BN, sum and activation in the
                       // simulation's float32 (core/runtime/float_join.h)
};

// One quantized Conv2d or Linear (a Linear is a 1x1 convolution of a 1x1 image, `is_linear`):
//   k_x    = clamp(to_codes(x), code_low, code_high)            input codes
//   acc[o] = sum k_x k_w[o]                                     exact in int32
//   y[o]   = saturate(to_fixed[o](acc[o]) + bias[o])            back to fixed point
// Padding reads code 0 (the value 0).
struct ProductOp {
  bool is_linear = false;
  int64_t in_channels = 0, out_channels = 0, kernel_h = 1, kernel_w = 1;
  int64_t stride = 1, padding = 0, groups = 1;
  FixedPointMultiplier to_codes;  // fixed point -> input codes: 2^-F / step_x
  int32_t code_low = 0, code_high = 0;
  std::vector<int16_t> weight_codes;           // (O, C/groups, kh, kw)
  std::vector<int32_t> bias;                   // (O) in fixed point
  std::vector<FixedPointMultiplier> to_fixed;  // (O): step_x step_w[o] 2^F
  int64_t depth() const { return in_channels / groups * kernel_h * kernel_w; }
};

struct Op {
  OpKind kind = OpKind::kClamp;
  std::vector<int32_t> inputs;  // value numbers, each produced by an earlier operation (or 0)
  int32_t output = 0;           // a new value number
  // kClamp: high. Pools: kernel, stride, padding. kPadChannels: out_channels, stride.
  // kReshape: dims. kConcat: axis. kLevels: is_signed, thresholds, levels (LevelMap::params).
  // kThresholds: ThresholdMap::params. kWideProduct: WideProduct::params.
  std::vector<int64_t> params;
  ProductOp product;  // kProduct only
};

// What a program needs to be run on a user's images, beside its operations.
struct ModelInfo {
  std::string metadata;             // JSON: model, dataset, source checkpoint, scheme, bits
  std::vector<int64_t> input_dims;  // one image: (C, H, W)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // empty or num_classes names
  std::vector<float> mean, stddev;  // per channel, on pixels in [0, 1]: x = (p - mean) / stddev
};

struct Program {
  ModelInfo info;
  int32_t num_values = 1;  // value 0 is the input
  std::vector<Op> ops;
};

}  // namespace lowbit::runtime
