// The float join (OpKind::kFloatJoin): a residual block whose shortcut is a projection, joined
// the way the float simulation joins it. Threshold folding (thresholds.h) cannot: the sum
// bn(acc) + bn_s(acc_s) of two accumulators has no one-dimensional threshold, and fixed-point BN
// differed from the simulation's float32 BN by a level near a threshold (a power-of-two ResNet-18
// agreed with the simulation on 97.7% of predictions). Here each accumulator (exact in both: grid
// weights on levels) becomes the simulation's float32 value, goes through its BN in the
// simulation's own float32 operations, the two are added, and the activation's level is read off
// float thresholds found on the simulation's activation: the same floats, so the same level.
//   per channel c and input i (0: the branch, 1: the shortcut):
//     x_i = float(acc_i step_x_i step_w_i)       (exact: the simulation's convolution output)
//     y_i = x_i * scale_i[c] + shift_i[c]        (two roundings, as layers/kernels/batch_norm)
//     v = y_0 + y_1,   out = levels[#{j : v >= thresholds[j]}]
// The code is built with -ffp-contract=off, so that no multiply-add is fused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::runtime {

struct FloatJoin {
  int64_t channels = 0;
  std::vector<int32_t> levels;    // the n output values in fixed point, strictly ascending
  std::vector<float> thresholds;  // n - 1, ascending: v reaches level j from thresholds[j - 1]
  // Per input, the float value of one accumulator unit: step_x step_w (a double, exactly).
  float step_x[2] = {0, 0}, step_w[2] = {0, 0};
  std::vector<float> scale[2], shift[2];  // per input, per channel

  int32_t level(float v) const {
    size_t k = 0;
    for (float t : thresholds) k += v >= t;
    return levels[k];
  }
  // y over `positions` positions of `channels` channels, channels last ((H, W, C), the engine's
  // layout) or first ((C, H, W), the integer model's).
  void apply(const int32_t* acc, const int32_t* shortcut_acc, int64_t positions, bool channels_last,
             int32_t* y) const;
  // channels, n, the n levels, the n - 1 thresholds, then per input step_x, step_w, the channels'
  // scales and their shifts; every float as its 32 bits (0..2^32 - 1).
  std::vector<int64_t> params() const;
};

// What is wrong with a float join's parameters, or "": channels 1..2^24, n 2..31, the count
// 2 + n + (n - 1) + 2 (2 + 2 channels), levels strictly ascending in int32, thresholds ascending
// and not NaN, steps finite and positive, scales and shifts finite.
std::string float_join_params_error(const std::vector<int64_t>& params);
// What is wrong with a float join on values of `inputs` shapes (two of one shape, `channels`
// first), or "".
std::string float_join_shape_error(const std::vector<int64_t>& params,
                                   const std::vector<std::vector<int64_t>>& inputs);
// The join of valid parameters.
FloatJoin float_join(const std::vector<int64_t>& params);

}  // namespace lowbit::runtime
