// Threshold folding: the BN and power-of-two activation after a layer of grid weights that reads
// activation levels, as integer thresholds on the layer's accumulator (core/runtime/thresholds.h),
// the way binary-network hardware folds BN and sign (e.g. FINN, Umuroglu et al. 2017, sec. 4.2).
//
// Why it is exact: levels are codes times step_x = a q2 and grid weights codes times 2^min_exp, so
// every product, and every partial sum of the float simulation's convolution (summed directly in
// evaluation, Conv2dOptions::exact_sums), is an integer multiple of step_x 2^min_exp; while those
// integers times step_x's odd mantissa stay below 2^24 the float32 sum is the exact accumulator in
// any order. Each channel's map accumulator -> float32 BN -> (+ shortcut level) -> activation is
// then a composition of monotone float operations (non-increasing for a negative BN scale, constant
// for a zero one), and its level changes at a few integers, found by binary search on the
// simulation's own float code (the BN and activation modules run on the candidate accumulators).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/runtime/thresholds.h"
#include "layers/batch_norm.h"
#include "layers/quant/pow2_activation.h"
#include "models/transforms/pow2_integer.h"

namespace lowbit {

// The thresholds of non-decreasing maps f_r from the integers low..high to level indices 0..n-1,
// one row per map: t[r][j - 1] = the smallest a in low..high with f_r(a) >= j, for j = 1..n-1;
// ThresholdMap::kAlways when that is low (every accumulator reaches it) and kNever when there is
// none. `evaluate(acc, index)` gets rows x (n - 1) accumulators, row by row, and sets the index of
// each under its row's map: every search advances in one batch, about log2(high - low) batches.
using ThresholdEvaluate = std::function<void(const std::vector<int64_t>&, std::vector<int>&)>;
std::vector<int64_t> search_thresholds(int64_t rows, int levels, int64_t low, int64_t high,
                                       const ThresholdEvaluate& evaluate);

// A layer whose BN and activation fold into thresholds: accumulators are integers |acc| <= bound
// that the float simulation holds as acc unit (unit = step_x step_w, with step_x the levels' float
// step), BN and activation the simulation's modules, and `shortcut` the values a residual
// shortcut adds before the activation (empty: none).
struct ThresholdLayer {
  int64_t channels = 0, bound = 0;
  float step_x = 0, step_w = 0;
  // Per channel, the unit instead of step_x step_w (a float layer's wide product: 2^-22 step_w[o],
  // its sums the float simulation's up to float32 rounding rather than exactly).
  std::vector<double> units;
  const BatchNorm* bn = nullptr;
  Pow2Activation* activation = nullptr;
  std::vector<LevelValue> shortcut;
};

// Whether the float simulation's sums of such a layer are exact (above): bound times the odd part
// of step_x step_w's mantissa below 2^24.
bool exact_float_sums(const ThresholdLayer& layer);

struct FoldedThresholds {
  runtime::ThresholdMap map;
  // Channels whose map decreases (a negative BN scale): their weight codes are negated, so that
  // the accumulator the thresholds read is -acc and every map is non-decreasing.
  std::vector<bool> negated;
};
FoldedThresholds fold_thresholds(const ThresholdLayer& layer, int fraction_bits);

// The float thresholds of the activation, for a float join (core/runtime/float_join.h):
// t[j - 1] = the smallest float v whose level under the simulation's activation module is j or
// above (pow2_level_values' order), for j = 1..n-1, found by binary search over the finite floats
// in order; -inf when every finite float reaches it, +inf when none does.
std::vector<float> activation_float_thresholds(Pow2Activation& activation, int fraction_bits);

}  // namespace lowbit
