// The float join: the simulation's float32 BN and sum on two accumulators, its level by float
// thresholds. Compiled with -ffp-contract=off (CMakeLists.txt).
#include "core/runtime/float_join.h"

#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/runtime/thresholds.h"

namespace lowbit::runtime {
namespace {

int64_t float_bits(float v) {
  uint32_t u = 0;
  std::memcpy(&u, &v, sizeof u);
  return static_cast<int64_t>(u);
}
float bits_float(int64_t b) {
  const auto u = static_cast<uint32_t>(b);
  float v = 0;
  std::memcpy(&v, &u, sizeof v);
  return v;
}
// A parameter that holds a float's bits, and the float.
bool is_float_bits(int64_t b) { return b >= 0 && b <= int64_t{UINT32_MAX}; }

}  // namespace

void FloatJoin::apply(const int32_t* acc, const int32_t* shortcut_acc, int64_t positions,
                      bool channels_last, int32_t* y) const {
  const double unit0 = double(step_x[0]) * step_w[0], unit1 = double(step_x[1]) * step_w[1];
  for (int64_t c = 0; c < channels; ++c) {
    const float s0 = scale[0][size_t(c)], t0 = shift[0][size_t(c)];
    const float s1 = scale[1][size_t(c)], t1 = shift[1][size_t(c)];
    for (int64_t q = 0; q < positions; ++q) {
      const int64_t i = channels_last ? q * channels + c : c * positions + q;
      const auto x0 = static_cast<float>(static_cast<double>(acc[i]) * unit0);
      const auto x1 = static_cast<float>(static_cast<double>(shortcut_acc[i]) * unit1);
      const float y0 = x0 * s0 + t0, y1 = x1 * s1 + t1;
      y[i] = level(y0 + y1);
    }
  }
}

std::vector<int64_t> FloatJoin::params() const {
  std::vector<int64_t> p{channels, int64_t(levels.size())};
  p.insert(p.end(), levels.begin(), levels.end());
  for (float t : thresholds) p.push_back(float_bits(t));
  for (int i = 0; i < 2; ++i) {
    p.push_back(float_bits(step_x[i]));
    p.push_back(float_bits(step_w[i]));
    for (float v : scale[i]) p.push_back(float_bits(v));
    for (float v : shift[i]) p.push_back(float_bits(v));
  }
  return p;
}

std::string float_join_params_error(const std::vector<int64_t>& params) {
  const auto size = static_cast<int64_t>(params.size());
  if (size < 2) return concat(size, " parameters; expected channels and levels");
  const int64_t c = params[0], n = params[1];
  if (c < 1 || c > (int64_t{1} << 24)) return concat("channels ", c, "; expected 1..2^24");
  if (n < 2 || n > kMaxThresholdLevels)
    return concat("levels ", n, "; expected 2..", kMaxThresholdLevels);
  const int64_t expected = 2 + n + (n - 1) + 2 * (2 + 2 * c);
  if (size != expected)
    return concat(size, " parameters; expected ", expected, " (2, ", n, " levels, ", n - 1,
                  " thresholds, 2 x (2 steps, ", c, " scales, ", c, " shifts))");
  const std::string levels_error = ascending_int32_error("level", params.data() + 2, n);
  if (!levels_error.empty()) return levels_error;
  for (int64_t i = 0; i < n - 1; ++i) {
    const int64_t b = params[size_t(2 + n + i)];
    const float t = bits_float(b);
    if (!is_float_bits(b) || std::isnan(t) ||
        (i > 0 && t < bits_float(params[size_t(2 + n + i - 1)])))
      return concat("threshold ", i, " (float bits ", b, "); expected ascending floats");
  }
  int64_t at = 2 + n + (n - 1);
  for (int input = 0; input < 2; ++input) {
    for (const char* step : {"step_x", "step_w"}) {
      const int64_t b = params[size_t(at++)];
      const float v = bits_float(b);
      if (!is_float_bits(b) || !std::isfinite(v) || v <= 0)
        return concat(step, " of input ", input, " (float bits ", b,
                      "); expected a finite positive float");
    }
    for (int64_t k = 0; k < 2 * c; ++k, ++at) {
      const int64_t b = params[size_t(at)];
      if (!is_float_bits(b) || !std::isfinite(bits_float(b)))
        return concat(k < c ? "scale " : "shift ", k % c, " of input ", input, " (float bits ", b,
                      "); expected a finite float");
    }
  }
  return "";
}

std::string float_join_shape_error(const std::vector<int64_t>& params,
                                   const std::vector<std::vector<int64_t>>& inputs) {
  const std::string error = float_join_params_error(params);
  if (!error.empty()) return error;
  if (inputs.size() != 2)
    return concat(inputs.size(),
                  " inputs; expected 2 (the branch's and the shortcut's "
                  "accumulators)");
  if (inputs[0].empty() || inputs[0][0] != params[0])
    return concat("an accumulator of ", inputs[0].empty() ? 0 : inputs[0][0], " channels for ",
                  params[0], " channels");
  if (inputs[1] != inputs[0]) return "a shortcut accumulator of another shape";
  return "";
}

FloatJoin float_join(const std::vector<int64_t>& params) {
  const std::string error = float_join_params_error(params);
  LOWBIT_CHECK(error.empty(), "float join: ", error);
  FloatJoin j;
  j.channels = params[0];
  const int64_t n = params[1], c = j.channels;
  for (int64_t i = 0; i < n; ++i) j.levels.push_back(static_cast<int32_t>(params[size_t(2 + i)]));
  for (int64_t i = 0; i < n - 1; ++i) j.thresholds.push_back(bits_float(params[size_t(2 + n + i)]));
  int64_t at = 2 + n + (n - 1);
  for (int input = 0; input < 2; ++input) {
    j.step_x[input] = bits_float(params[size_t(at++)]);
    j.step_w[input] = bits_float(params[size_t(at++)]);
    for (int64_t k = 0; k < c; ++k) j.scale[input].push_back(bits_float(params[size_t(at++)]));
    for (int64_t k = 0; k < c; ++k) j.shift[input].push_back(bits_float(params[size_t(at++)]));
  }
  return j;
}

}  // namespace lowbit::runtime
