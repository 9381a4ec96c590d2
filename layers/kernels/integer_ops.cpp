#include "layers/kernels/integer_ops.h"

#include <cmath>

#include "core/check.h"

namespace lowbit::kernels {

FixedPointMultiplier FixedPointMultiplier::from_real(double r) {
  LOWBIT_CHECK(std::isfinite(r) && r >= 0.0, "fixed-point multiplier: ", r, " must be finite and >= 0");
  LOWBIT_CHECK(r < 1073741824.0, "fixed-point multiplier: ", r, " is too large; expected < 2^30");
  FixedPointMultiplier f;
  if (r == 0.0) return f;
  int exponent = 0;
  const double fraction = std::frexp(r, &exponent);  // r = fraction 2^exponent, fraction in [0.5, 1)
  auto m = static_cast<int64_t>(std::llround(fraction * 2147483648.0));
  if (m == (int64_t{1} << 31)) {  // the fraction rounded up to 1
    m >>= 1;
    ++exponent;
  }
  f.multiplier = static_cast<int32_t>(m);
  f.shift = 31 - exponent;  // >= 2 since r < 2^30
  if (f.shift >= 63) f.shift = 63;  // r < 2^-32: every |x| < 2^31 maps to 0
  return f;
}

double FixedPointMultiplier::real() const {
  return multiplier == 0 ? 0.0 : std::ldexp(static_cast<double>(multiplier), -shift);
}

int32_t dot_int16(const int16_t* a, const int16_t* b, int64_t n) {
  int32_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return sum;
}

void conv2d_int16(const IntConvShape& s, const int16_t* x, const int16_t* weight, int32_t* out,
                  std::vector<int16_t>& col) {
  const int64_t ho = s.out_height(), wo = s.out_width(), positions = ho * wo;
  const int64_t group_in = s.channels / s.groups, group_out = s.out_channels / s.groups;
  const int64_t k = s.kernel, depth = group_in * k * k;
  col.resize(static_cast<size_t>(positions * depth));
  for (int64_t g = 0; g < s.groups; ++g) {
    // im2col of this group's channels: row p holds the depth codes under output position p.
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        int16_t* row = col.data() + (oy * wo + ox) * depth;
        for (int64_t c = 0; c < group_in; ++c) {
          const int16_t* plane = x + (g * group_in + c) * s.height * s.width;
          for (int64_t ky = 0; ky < k; ++ky) {
            const int64_t iy = oy * s.stride - s.padding + ky;
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t ix = ox * s.stride - s.padding + kx;
              const bool inside = iy >= 0 && iy < s.height && ix >= 0 && ix < s.width;
              *row++ = inside ? plane[iy * s.width + ix] : int16_t{0};
            }
          }
        }
      }
    for (int64_t o = g * group_out; o < (g + 1) * group_out; ++o) {
      const int16_t* w = weight + o * depth;
      int32_t* y = out + o * positions;
      for (int64_t p = 0; p < positions; ++p) y[p] = dot_int16(col.data() + p * depth, w, depth);
    }
  }
}

}  // namespace lowbit::kernels
