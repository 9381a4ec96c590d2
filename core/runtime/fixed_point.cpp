#include "core/runtime/fixed_point.h"

#include <cmath>

#include "core/check.h"

namespace lowbit::runtime {

FixedPointMultiplier FixedPointMultiplier::from_real(double r) {
  LOWBIT_CHECK(std::isfinite(r) && r >= 0.0, "fixed-point multiplier: ", r,
               " must be finite and >= 0");
  LOWBIT_CHECK(r < 1073741824.0, "fixed-point multiplier: ", r, " is too large; expected < 2^30");
  FixedPointMultiplier f;
  if (r == 0.0) return f;
  int exponent = 0;
  const double fraction =
      std::frexp(r, &exponent);  // r = fraction 2^exponent, fraction in [0.5, 1)
  auto m = static_cast<int64_t>(std::llround(fraction * 2147483648.0));
  if (m == (int64_t{1} << 31)) {  // the fraction rounded up to 1
    m >>= 1;
    ++exponent;
  }
  f.multiplier = static_cast<int32_t>(m);
  f.shift = 31 - exponent;          // >= 2 since r < 2^30
  if (f.shift >= 63) f.shift = 63;  // r < 2^-32: every |x| < 2^31 maps to 0
  return f;
}

double FixedPointMultiplier::real() const {
  return multiplier == 0 ? 0.0 : std::ldexp(static_cast<double>(multiplier), -shift);
}

}  // namespace lowbit::runtime
