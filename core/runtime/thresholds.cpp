#include "core/runtime/thresholds.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/runtime/fixed_point.h"
#include "core/runtime/program.h"

namespace lowbit::runtime {

void ThresholdMap::apply(const int32_t* acc, const int32_t* shortcut, int64_t positions,
                         bool channels_last, int32_t* y) const {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t q = 0; q < positions; ++q) {
      const int64_t i = channels_last ? q * channels + c : c * positions + q;
      y[i] = apply(row(c, shortcut ? shortcut[i] : 0), acc[i]);
    }
}

std::vector<int64_t> ThresholdMap::params() const {
  std::vector<int64_t> p{channels, int64_t(levels.size()), int64_t(shortcuts.size())};
  p.insert(p.end(), levels.begin(), levels.end());
  p.insert(p.end(), shortcuts.begin(), shortcuts.end());
  p.insert(p.end(), thresholds.begin(), thresholds.end());
  return p;
}

std::string ascending_int32_error(const char* what, const int64_t* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (values[i] < INT32_MIN || values[i] > INT32_MAX || (i > 0 && values[i] <= values[i - 1]))
      return concat(what, " ", i, " = ", values[i],
                    "; expected strictly ascending values in -2^31..2^31-1");
  return "";
}

std::string threshold_params_error(const std::vector<int64_t>& params) {
  const auto size = static_cast<int64_t>(params.size());
  if (size < 3) return concat(size, " parameters; expected channels, levels and shortcut values");
  const int64_t c = params[0], n = params[1], m = params[2];
  if (c < 1 || c > (int64_t{1} << 24)) return concat("channels ", c, "; expected 1..2^24");
  if (n < 2 || n > kMaxThresholdLevels)
    return concat("levels ", n, "; expected 2..", kMaxThresholdLevels);
  if (m < 0 || m > kMaxThresholdLevels)
    return concat("shortcut values ", m, "; expected 0..", kMaxThresholdLevels);
  const int64_t rows = c * (m == 0 ? 1 : m), expected = 3 + n + m + rows * (n - 1);
  if (size != expected)
    return concat(size, " parameters; expected ", expected, " (3, ", n, " levels, ", m,
                  " shortcut values, ", rows, " rows of ", n - 1, " thresholds)");
  std::string error = ascending_int32_error("level", params.data() + 3, n);
  if (error.empty()) error = ascending_int32_error("shortcut value", params.data() + 3 + n, m);
  if (!error.empty()) return error;
  const int64_t* t = params.data() + 3 + n + m;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n - 1; ++i) {
      const int64_t v = t[r * (n - 1) + i];
      if (v < ThresholdMap::kAlways || v > ThresholdMap::kNever ||
          (i > 0 && v < t[r * (n - 1) + i - 1]))
        return concat("threshold ", i, " of row ", r, " = ", v,
                      "; expected ascending values in -2^62..2^62");
    }
  return "";
}

std::string threshold_shape_error(const std::vector<int64_t>& params,
                                  const std::vector<std::vector<int64_t>>& inputs) {
  const std::string error = threshold_params_error(params);
  if (!error.empty()) return error;
  const size_t expected = params[2] > 0 ? 2 : 1;
  if (inputs.size() != expected)
    return concat(inputs.size(), " inputs; expected ", expected,
                  expected == 2 ? " (the accumulator and the shortcut)" : " (the accumulator)");
  if (inputs[0].empty() || inputs[0][0] != params[0])
    return concat("an accumulator of ", inputs[0].empty() ? 0 : inputs[0][0], " channels for ",
                  params[0], " channels of thresholds");
  if (expected == 2 && inputs[1] != inputs[0]) return "a shortcut of another shape";
  return "";
}

ThresholdMap threshold_map(const std::vector<int64_t>& params) {
  const std::string error = threshold_params_error(params);
  LOWBIT_CHECK(error.empty(), "threshold operation: ", error);
  ThresholdMap map;
  map.channels = params[0];
  const auto n = static_cast<size_t>(params[1]), m = static_cast<size_t>(params[2]);
  for (size_t i = 0; i < n; ++i) map.levels.push_back(static_cast<int32_t>(params[3 + i]));
  for (size_t i = 0; i < m; ++i) map.shortcuts.push_back(static_cast<int32_t>(params[3 + n + i]));
  map.thresholds.assign(params.begin() + static_cast<std::ptrdiff_t>(3 + n + m), params.end());
  return map;
}

void WideProduct::run(const int32_t* x, int64_t height, int64_t width, bool channels_last,
                      int32_t* y) const {
  const int64_t ho = (height + 2 * padding - kernel_h) / stride + 1,
                wo = (width + 2 * padding - kernel_w) / stride + 1;
  const int64_t cg = in_channels / groups, og = out_channels / groups, plane = height * width;
  for (int64_t o = 0; o < out_channels; ++o) {
    const int32_t* w = weights.data() + o * depth();
    const int64_t g = o / og;
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        int64_t acc = 0;
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t ky = 0; ky < kernel_h; ++ky) {
            const int64_t iy = oy * stride - padding + ky;
            if (iy < 0 || iy >= height) continue;
            for (int64_t kx = 0; kx < kernel_w; ++kx) {
              const int64_t ix = ox * stride - padding + kx;
              if (ix < 0 || ix >= width) continue;  // padding reads 0
              const int64_t ch = g * cg + c, at = iy * width + ix;
              acc += int64_t{x[channels_last ? at * in_channels + ch : ch * plane + at]} *
                     w[(c * kernel_h + ky) * kernel_w + kx];
            }
          }
        const int64_t q = oy * wo + ox;
        y[channels_last ? q * out_channels + o : o * ho * wo + q] =
            thresholds.apply(thresholds.row(o, 0), acc);
      }
  }
}

std::vector<int64_t> WideProduct::params() const {
  std::vector<int64_t> p{is_linear ? 1 : 0, in_channels, out_channels, kernel_h,
                         kernel_w,          stride,      padding,      groups};
  p.insert(p.end(), weights.begin(), weights.end());
  const std::vector<int64_t> t = thresholds.params();
  p.insert(p.end(), t.begin(), t.end());
  return p;
}

int64_t wide_weight_limit(int64_t depth) {
  return std::min<int64_t>((int64_t{1} << 23) - 1,
                           (int64_t{1} << 31) / std::max<int64_t>(depth, 1));
}

double wide_weight_step(const float* row, int64_t depth) {
  double largest = 0;
  for (int64_t j = 0; j < depth; ++j) largest = std::max(largest, std::fabs(double(row[j])));
  return largest / static_cast<double>(wide_weight_limit(depth));
}

int32_t wide_weight_code(float w, double step) {
  return step > 0 ? static_cast<int32_t>(std::rint(double(w) / step)) : 0;
}

int32_t wide_input_code(float x) {
  return saturate_int32(std::llround(static_cast<double>(x) * (int64_t{1} << kFractionBits)));
}

std::string wide_product_params_error(const std::vector<int64_t>& params) {
  if (params.size() < 8) return concat(params.size(), " parameters; expected at least 8 sizes");
  const int64_t linear = params[0], c = params[1], o = params[2], kh = params[3], kw = params[4],
                s = params[5], pad = params[6], g = params[7];
  const int64_t big = int64_t{1} << 24;
  if (linear < 0 || linear > 1 || c < 1 || c > big || o < 1 || o > big || kh < 1 || kh > 255 ||
      kw < 1 || kw > 255 || s < 1 || s > 255 || pad < 0 || pad > 255 || g < 1 || c % g != 0 ||
      o % g != 0 || (linear == 1 && (kh != 1 || kw != 1 || s != 1 || pad != 0 || g != 1)))
    return concat("sizes ", linear, ", ", c, ", ", o, ", ", kh, ", ", kw, ", ", s, ", ", pad, ", ",
                  g,
                  "; expected is_linear 0..1, channels 1..2^24 divided by the groups, kernel "
                  "1..255, stride 1..255, padding 0..255");
  const int64_t depth = c / g * kh * kw;
  if (depth > big || o * depth > int64_t(params.size()) - 8)
    return concat(o, " x ", depth, " weights; more than the ", params.size() - 8,
                  " parameters after the sizes");
  const int64_t limit = wide_weight_limit(depth);
  for (int64_t i = 0; i < o * depth; ++i)
    if (params[size_t(8 + i)] < -limit || params[size_t(8 + i)] > limit)
      return concat("weight ", i, " = ", params[size_t(8 + i)], "; expected -", limit, "..", limit,
                    " (", depth, " products in int64)");
  const std::vector<int64_t> t(params.begin() + 8 + o * depth, params.end());
  const std::string error = threshold_params_error(t);
  if (!error.empty()) return error;
  if (t[0] != o || t[2] != 0)
    return concat("thresholds of ", t[0], " channels and ", t[2], " shortcut values; expected ", o,
                  " and none");
  return "";
}

WideProduct wide_product(const std::vector<int64_t>& params) {
  const std::string error = wide_product_params_error(params);
  LOWBIT_CHECK(error.empty(), "wide product: ", error);
  WideProduct p;
  p.is_linear = params[0] == 1;
  p.in_channels = params[1];
  p.out_channels = params[2];
  p.kernel_h = params[3];
  p.kernel_w = params[4];
  p.stride = params[5];
  p.padding = params[6];
  p.groups = params[7];
  const auto end = static_cast<std::ptrdiff_t>(8 + p.out_channels * p.depth());
  p.weights.assign(params.begin() + 8, params.begin() + end);
  p.thresholds = threshold_map(std::vector<int64_t>(params.begin() + end, params.end()));
  return p;
}

std::vector<int64_t> wide_product_shape(const WideProduct& p, const std::vector<int64_t>& in,
                                        std::string& error) {
  if (p.is_linear) {
    if (in.size() != 1 || in[0] != p.in_channels)
      error = concat("a linear layer of ", p.in_channels, " features gets ", in.size(),
                     " dimensions of ", in.empty() ? 0 : in[0]);
    return {p.out_channels};
  }
  if (in.size() != 3 || in[0] != p.in_channels || in[1] + 2 * p.padding < p.kernel_h ||
      in[2] + 2 * p.padding < p.kernel_w) {
    error = concat("a ", p.kernel_h, "x", p.kernel_w, " convolution of ", p.in_channels,
                   " channels padded by ", p.padding, " on a value of ", in.size(), " dimensions");
    return {};
  }
  return {p.out_channels, (in[1] + 2 * p.padding - p.kernel_h) / p.stride + 1,
          (in[2] + 2 * p.padding - p.kernel_w) / p.stride + 1};
}

}  // namespace lowbit::runtime
