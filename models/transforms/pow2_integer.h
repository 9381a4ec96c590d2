// The numbers of a power-of-two network's integer form (lowbit-train --weights pow2 --act pow2,
// Long et al. 2020), for the integer compiler (models/transforms/integer_model.h): the codes a
// layer reads, its weight codes, the BN that follows it as a per-channel scale and shift, and the
// activation as a level map (core/runtime/levels.h).
//   grid weights   w = sign 2^e, e in [min_exp, 0]: codes w 2^-min_exp, exact small integers
//   activation     levels a q2 {0, +-1, +-2, +-4, ...}: codes at step a q2, exact integers
//   float layers   (the first, kept float by the paper) per-channel symmetric codes of as many bits
//                  as the int32 accumulator allows for their input codes (at most 16)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/runtime/fixed_point.h"
#include "core/runtime/levels.h"
#include "core/tensor.h"
#include "layers/batch_norm.h"
#include "layers/quant/pow2_activation.h"

namespace lowbit {

// Which weights of a power-of-two network live on the grid, and its smallest exponent
// (TrainConfig::weight_min_exp). The other convolution and linear layers are float layers.
struct Pow2Weights {
  std::vector<Parameter> grid;
  int min_exp = -3;
  // The largest |x| of the network's input (the normalized image), which sets the step of the
  // first layer's input codes: max over channels of max(mean, 1 - mean) / stddev for images in
  // [0, 1]; 8 when unknown.
  double input_bound = 8.0;
};

// One of an activation's levels: in the integer program's fixed point, and as the float simulation
// holds it (a l in float32: the trained factor's product rounded as the simulation rounds it).
struct LevelValue {
  int32_t fixed = 0;
  float value = 0;
};

// What the compiler knows of the values a layer reads: |v| <= bound, and when step > 0 they are
// integer multiples of step with codes low..high (a power-of-two activation's levels, also after
// max pooling, padding or flattening); `levels` then lists every value they can take, ascending.
struct ValueRange {
  double bound = 0;
  double step = 0;
  int64_t low = 0, high = 0;
  std::vector<LevelValue> levels{};
};

// The range of a power-of-two activation's output, its levels in fixed point with `fraction_bits`.
ValueRange pow2_activation_range(const Pow2Activation& activation, int fraction_bits);
// The activation's levels, negative ones included when it is signed, ascending.
std::vector<LevelValue> pow2_level_values(const Pow2Activation& activation, int fraction_bits);
// The activation as a level map on fixed point with `fraction_bits` fraction bits: thresholds
// floor(t a 2^F), levels round(l a 2^F), for the quantizer's thresholds t, levels l and factor a.
runtime::LevelMap pow2_level_map(const Pow2Activation& activation, int fraction_bits);

// How a layer turns its fixed-point input into codes: on levels, their own codes (exact); else
// int16 codes at the power-of-two step 2^-k with the largest k <= F for which bound / 2^-k fits
// 32767 (values beyond are clamped to +-32767).
struct InputCodes {
  runtime::FixedPointMultiplier to_codes;  // fixed point -> codes: 2^-F / step
  double step = 0;
  int32_t low = 0, high = 0;
};
InputCodes input_codes(const ValueRange& range, int fraction_bits);

// A layer's weight codes (O, depth) and each output channel's step (w = code step[o]).
struct WeightCodes {
  std::vector<int16_t> codes;
  std::vector<double> steps;
  int bits = 0;  // of a float layer's codes (sign included); 0 for grid weights
};
// Grid weights: code = w 2^-min_exp, checked to be 0 or +-2^j for j in 0..-min_exp (else a
// lowbit::Error naming `path` and the weight).
WeightCodes pow2_weight_codes(const std::string& path, const Tensor& weight, int64_t out,
                              int min_exp);
// A float layer: per output channel, step[o] = max |w[o]| / (2^(b-1) - 1), code = round(w /
// step[o]), with b the most bits (at most 16) for which depth products of input codes up to
// `largest_input_code` and weight codes up to 2^(b-1) - 1 fit int32. Throws when fewer than 8 bits
// would.
WeightCodes float_weight_codes(const std::string& path, const Tensor& weight, int64_t out,
                               int64_t largest_input_code);

// The evaluation-mode BN after a layer as y = x scale[c] + shift[c] (scale = gamma / sqrt(var +
// eps), shift = beta - mean scale); scale 1 and shift 0 without one (bn null).
struct ChannelAffine {
  std::vector<double> scale, shift;
};
ChannelAffine batch_norm_affine(const BatchNorm* bn, int64_t channels);

}  // namespace lowbit
