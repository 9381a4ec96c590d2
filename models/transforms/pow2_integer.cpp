// The codes, level maps and BN scales of a power-of-two network's integer form.
#include "models/transforms/pow2_integer.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "models/transforms/bn_folding.h"

namespace lowbit {

ValueRange pow2_activation_range(const Pow2Activation& activation, int fraction_bits) {
  const Pow2ActivationSpec& spec = activation.spec();
  ValueRange r;
  r.step = static_cast<double>(spec.q2) * activation.level_scale();
  r.high = int64_t{1} << (spec.bits - 2);
  r.low = spec.is_signed ? -r.high : 0;
  r.bound = static_cast<double>(r.high) * r.step;
  r.levels = pow2_level_values(activation, fraction_bits);
  return r;
}

std::vector<LevelValue> pow2_level_values(const Pow2Activation& activation, int fraction_bits) {
  const runtime::LevelMap map = pow2_level_map(activation, fraction_bits);
  const std::vector<float> levels = pow2_activation_levels(activation.spec());
  const float a = activation.level_scale();
  std::vector<LevelValue> values{{0, 0.0f}};
  for (size_t i = 0; i < map.levels.size(); ++i) {
    // The simulation's y = a P(x / a): the level l times a, rounded to float32 (exact for a = 1).
    const float value = a * levels[i + 1];
    values.push_back({map.levels[i], value});
    if (map.is_signed) values.insert(values.begin(), {-map.levels[i], -value});
  }
  return values;
}

runtime::LevelMap pow2_level_map(const Pow2Activation& activation, int fraction_bits) {
  const Pow2ActivationSpec& spec = activation.spec();
  const double a = activation.level_scale(), one = std::ldexp(1.0, fraction_bits);
  const std::vector<float> thresholds = pow2_activation_thresholds(spec);
  const std::vector<float> levels = pow2_activation_levels(spec);  // 0, then one per threshold
  runtime::LevelMap map;
  map.is_signed = spec.is_signed;
  for (size_t i = 0; i < thresholds.size(); ++i) {
    // The float rule compares |x / a| > t; on the fixed point, v > t a 2^F, i.e. v > floor(t a 2^F)
    // (exact when a is a power of two: the fixed and trained-pow2 scales).
    const double t = std::floor(static_cast<double>(thresholds[i]) * a * one);
    const double level = std::round(static_cast<double>(levels[i + 1]) * a * one);
    LOWBIT_CHECK(level < 2147483647.0, "integer inference: the power-of-two activation's level ",
                 levels[i + 1] * a, " does not fit the fixed point (|v| < 2^", 31 - fraction_bits,
                 ")");
    map.thresholds.push_back(static_cast<int32_t>(t));
    map.levels.push_back(static_cast<int32_t>(level));
  }
  return map;
}

InputCodes input_codes(const ValueRange& range, int fraction_bits) {
  const double one = std::ldexp(1.0, fraction_bits);
  InputCodes c;
  if (range.step > 0) {  // levels: their own codes, exact
    c.step = range.step;
    c.low = static_cast<int32_t>(range.low);
    c.high = static_cast<int32_t>(range.high);
  } else {
    int k = fraction_bits;
    while (k > -fraction_bits && range.bound * std::ldexp(1.0, k) > 32767.0) --k;
    c.step = std::ldexp(1.0, -k);
    c.low = -32767;
    c.high = 32767;
  }
  c.to_codes = runtime::FixedPointMultiplier::from_real(1.0 / (one * c.step));
  return c;
}

WeightCodes pow2_weight_codes(const std::string& path, const Tensor& weight, int64_t out,
                              int min_exp) {
  WeightCodes w;
  const int64_t top = int64_t{1} << -min_exp;
  w.codes.resize(static_cast<size_t>(weight.numel()));
  for (int64_t i = 0; i < weight.numel(); ++i) {
    const double code = std::ldexp(static_cast<double>(weight.data()[i]), -min_exp);
    const auto magnitude = static_cast<int64_t>(std::fabs(code));
    LOWBIT_CHECK(code == std::trunc(code) && magnitude <= top && (magnitude & (magnitude - 1)) == 0,
                 "integer inference: ", path, " weight ", i, " = ", weight.data()[i],
                 " is not on the power-of-two grid {0, +-2^e : e = ", min_exp, "..0}");
    w.codes[static_cast<size_t>(i)] = static_cast<int16_t>(code);
  }
  w.steps.assign(static_cast<size_t>(out), std::ldexp(1.0, min_exp));
  return w;
}

WeightCodes float_weight_codes(const std::string& path, const Tensor& weight, int64_t out,
                               int64_t largest_input_code) {
  const int64_t depth = weight.numel() / out;
  const double room =
      2147483646.0 / (static_cast<double>(depth) * std::max<int64_t>(1, largest_input_code));
  WeightCodes w;
  w.bits = 16;
  while (w.bits > 1 && static_cast<double>((int64_t{1} << (w.bits - 1)) - 1) > room) --w.bits;
  LOWBIT_CHECK(w.bits >= 8, "integer inference: ", path, " (a float layer) gets ", w.bits,
               "-bit weight codes: ", depth, " products of input codes up to ", largest_input_code,
               " leave the int32 accumulator no room for 8");
  const double top = static_cast<double>((int64_t{1} << (w.bits - 1)) - 1);
  w.codes.resize(static_cast<size_t>(weight.numel()));
  for (int64_t o = 0; o < out; ++o) {
    const float* row = weight.data() + o * depth;
    double largest = 0;
    for (int64_t j = 0; j < depth; ++j) largest = std::max(largest, std::fabs(double(row[j])));
    const double step = largest / top;
    w.steps.push_back(step);
    for (int64_t j = 0; j < depth; ++j)
      w.codes[static_cast<size_t>(o * depth + j)] =
          static_cast<int16_t>(step > 0 ? std::clamp(std::rint(row[j] / step), -top, top) : 0.0);
  }
  return w;
}

ChannelAffine batch_norm_affine(const BatchNorm* bn, int64_t channels) {
  ChannelAffine a;
  a.scale.assign(static_cast<size_t>(channels), 1.0);
  a.shift.assign(static_cast<size_t>(channels), 0.0);
  if (bn == nullptr) return a;
  LOWBIT_CHECK(bn->channels() == channels, "integer inference: a BatchNorm of ", bn->channels(),
               " channels after a layer of ", channels);
  for (int64_t c = 0; c < channels; ++c) {
    const double scale = batch_norm_scale(*bn, c);
    const double beta = bn->bias().defined() ? bn->bias().data()[c] : 0.0;
    a.scale[static_cast<size_t>(c)] = scale;
    a.shift[static_cast<size_t>(c)] = beta - bn->running_mean().data()[c] * scale;
  }
  return a;
}

}  // namespace lowbit
