// The threshold operation (OpKind::kThresholds): a layer's BN and power-of-two activation folded
// into integer thresholds on its accumulator, as binary-network hardware folds BN and sign. Shared
// by the runtime's engine and the training library's integer model, so that both compute the same
// integers; models/transforms/threshold_folding.h finds the thresholds.
//
// Why: on levels x grid weights the accumulator is exact on both sides, and for a channel the map
// accumulator -> BN -> (+ shortcut) -> activation level is monotone, so it is a handful of integer
// thresholds; the float simulation and the program then pick the same level for every accumulator,
// where fixed-point BN differed from float32 BN near a threshold by a whole level.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::runtime {

// Per channel c, and per shortcut value s_j when a residual shortcut joins (else one row):
//   y = levels[k],  k = #{i : acc >= thresholds[row][i]}
// with row = c m' + j (m' = max(m, 1)), j the index of the largest shortcut value <= s (0 below
// the first), and each row's n - 1 thresholds ascending. A threshold of kNever is reached by no
// accumulator, one of kAlways by every one (the search puts them there when a level lies beyond
// the accumulator's range, or a channel is constant).
struct ThresholdMap {
  static constexpr int64_t kAlways = -(int64_t{1} << 62), kNever = int64_t{1} << 62;

  int64_t channels = 0;
  std::vector<int32_t> levels;      // the n output values in fixed point, strictly ascending
  std::vector<int32_t> shortcuts;   // the m values a shortcut may hold, strictly ascending; or none
  std::vector<int64_t> thresholds;  // channels x m' rows of n - 1

  int64_t rows_per_channel() const { return shortcuts.empty() ? 1 : int64_t(shortcuts.size()); }
  // The row's n - 1 thresholds for channel c and shortcut value s.
  const int64_t* row(int64_t c, int32_t s) const {
    int64_t j = 0;
    for (size_t i = 1; i < shortcuts.size(); ++i) j += s >= shortcuts[i];
    return thresholds.data() + (c * rows_per_channel() + j) * int64_t(levels.size() - 1);
  }
  int32_t apply(const int64_t* row, int64_t acc) const {
    size_t k = 0;
    for (size_t i = 0; i + 1 < levels.size(); ++i) k += acc >= row[i];
    return levels[k];
  }
  // y over `positions` positions of `channels` channels; `shortcut` null without one. Channels
  // last ((H, W, C), the engine's layout) or first ((C, H, W), the integer model's).
  void apply(const int32_t* acc, const int32_t* shortcut, int64_t positions, bool channels_last,
             int32_t* y) const;

  // The operation's parameters: channels, n, m, the n levels, the m shortcut values, then the
  // thresholds row by row.
  std::vector<int64_t> params() const;
};

// values[0, count) strictly ascending in int32 (a threshold operation's or a float join's levels),
// else what is wrong with the first that is not, named `what`.
std::string ascending_int32_error(const char* what, const int64_t* values, int64_t count);

// The most output levels (a 16-bit signed power-of-two activation has 31) and shortcut values.
constexpr int kMaxThresholdLevels = 31;

// What is wrong with a threshold operation's parameters, or "" when nothing is: the counts
// (channels 1..2^24, n 2..31, m 0..31, and 3 + n + m + channels m' (n - 1) parameters), levels
// and shortcut values strictly ascending in int32, thresholds ascending along each row in
// kAlways..kNever.
std::string threshold_params_error(const std::vector<int64_t>& params);
// What is wrong with a threshold operation on values of `inputs` shapes (its parameters first;
// then one input, or two of one shape when it has shortcut values, of `channels` first), or "".
std::string threshold_shape_error(const std::vector<int64_t>& params,
                                  const std::vector<std::vector<int64_t>>& inputs);
// The map of valid parameters (threshold_params_error(params) == "").
ThresholdMap threshold_map(const std::vector<int64_t>& params);

// A float layer (the first, on the image) with its BN and activation folded (OpKind::kWideProduct):
// its input codes are the fixed-point values themselves (step 2^-22), its weight codes int32 per
// output channel, the sums int64, and thresholds (no shortcut) on them give the levels:
//   acc[o] = sum x k_w[o]  (exact in int64),  y[o] = thresholds(o, acc[o])
// Why not int16 codes into int32: the float simulation keeps this layer float, and int16 image
// codes (2^-13) or 12-bit weights leave the sums ~1e-4 off, which flips levels that then spread
// through every later layer; at 2^-22 and 24-bit weights they are off by about float32's own
// rounding.
struct WideProduct {
  bool is_linear = false;
  int64_t in_channels = 0, out_channels = 0, kernel_h = 1, kernel_w = 1;
  int64_t stride = 1, padding = 0, groups = 1;
  std::vector<int32_t> weights;  // (O, C/groups, kh, kw)
  ThresholdMap thresholds;

  int64_t depth() const { return in_channels / groups * kernel_h * kernel_w; }
  // y (out_channels at each output position) of x (in_channels x height x width; for a linear layer
  // height = width = 1), both channels last or both first.
  void run(const int32_t* x, int64_t height, int64_t width, bool channels_last, int32_t* y) const;
  // is_linear, the 7 sizes, the O depth weight codes, then the ThresholdMap's parameters.
  std::vector<int64_t> params() const;
};

// The largest |weight code| of a wide product of `depth` products: any int32 input keeps the sum
// inside int64 (depth 2^31 |k_w| < 2^62), at most 2^23 - 1 (24-bit codes).
int64_t wide_weight_limit(int64_t depth);
// A wide product's rounding, shared by the compiler (models/transforms/integer_model.cpp) and the
// float simulation's evaluation of the same layer (Conv2dOptions::wide_sums), so that both sum the
// same integers and reach the same BN outputs:
// - an output channel's weight step: its largest |w| over wide_weight_limit(depth), 0 for a row
//   of zeros;
// - a weight's code: rint(w / step), 0 when the step is 0;
// - an input's code: llround(x 2^22) saturated to int32, as Engine::run reads images.
double wide_weight_step(const float* row, int64_t depth);
int32_t wide_weight_code(float w, double step);
int32_t wide_input_code(float x);
// What is wrong with a wide product's parameters (sizes in range, groups dividing the channels,
// weight codes within wide_weight_limit, valid thresholds without shortcut values over its output
// channels), or "".
std::string wide_product_params_error(const std::vector<int64_t>& params);
WideProduct wide_product(const std::vector<int64_t>& params);
// Its output shape on an input of shape `in` ((C, H, W), or (C) for a linear layer), or an error in
// `error`.
std::vector<int64_t> wide_product_shape(const WideProduct& p, const std::vector<int64_t>& in,
                                        std::string& error);

}  // namespace lowbit::runtime
