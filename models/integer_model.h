// Integer-only inference of a model quantized with uniform quantizers (FAT: models/bn_folding.h,
// models/calibration.h, fine-tuned by lowbit-quantize): the check that the fake-quantized (simulated)
// model is what an integer accelerator would compute.
//
// Every value between layers is an int32 in fixed point with 16 fraction bits (v = k 2^-16). Each
// Conv2d and Linear runs as integer hardware would:
//   codes   k_x = clip(round(v 2^-16 / step_x), low, high)           fixed-point multiplier (requantize)
//   acc[o]  = sum k_x k_w[o]                                          int16 x int16 -> int32
//   out[o]  = round(acc[o] step_x step_w[o] 2^16) + round(b[o] 2^16)  fixed-point multiplier per channel
// where k_w are the weight quantizer's codes (its output divided by its step: exact integers, also
// for point-wise scaled weights) and the asymmetric zero point is folded into the codes (k ranges
// over z .. z + 2^n - 1, so sum k_x k_w is the usual zero-point expansion done at once). ReLU,
// ReLU6, max and average pooling, the residual adds, option-A shortcuts and flattening work on the
// fixed-point integers directly. The only float arithmetic is at the two ends: the input image to
// fixed point, and the logits back to float for the caller. (Why the bias is added in fixed point
// rather than in eq. 20's accumulator units: see compile_product in the .cpp.)
//
// Supported: Sequential, ResNet, BasicBlock, Bottleneck, InvertedResidual, Conv2d (any groups,
// stride, padding), Linear, ReLU, ReLU6, MaxPool2d, AvgPool2d, GlobalAvgPool, PadChannelsShortcut,
// Flatten, Dropout (eval: identity), Identity (a folded BN). Every Conv2d and Linear needs a
// per-tensor UniformQuantizer on its input and a UniformQuantizer (per tensor or per output channel,
// possibly inside a PointwiseScaledQuantizer) on its weight. Anything else is refused with the path
// and type of the module: per-channel input thresholds, for instance, would need one scale per
// input channel inside the accumulator, which no integer product has.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

constexpr int kIntegerFractionBits = 16;

class IntegerOp;

// A compiled integer program. It is a Module so that evaluate() and the reports run it like any
// model; it has no parameters and never records a graph. Its forward takes float images (N, ...) and
// returns the logits (N, classes) converted from fixed point.
class IntegerModel : public Module {
 public:
  // Compiles `model` as it is now (its quantizers, alphas and weights are read once; later changes
  // to `model` are not seen). Throws lowbit::Error naming the first module that has no integer form.
  explicit IntegerModel(Module& model);
  ~IntegerModel() override;

  Tensor forward(const Tensor& images) override;
  std::string type_name() const override { return "IntegerModel"; }

  // The Conv2d and Linear layers compiled, by path.
  const std::vector<std::string>& quantized_layers() const { return layers_; }

 private:
  std::unique_ptr<IntegerOp> program_;
  std::vector<std::string> layers_;
};

}  // namespace lowbit
