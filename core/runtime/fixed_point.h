// Fixed-point requantization, shared by integer-only inference in the training library
// (models/transforms/integer_model.h) and the runtime: a real multiplier as an int32 and a shift.
#pragma once

#include <cstdint>

namespace lowbit::runtime {

// A positive real multiplier r held as an integer m in [2^30, 2^31) and a right shift s,
// r = m * 2^-s (the form of gemmlowp and TFLite). apply(x) = round(x r), computed as
// (x m + 2^(s-1)) >> s in 64 bits: ties round toward +infinity (the float path rounds ties to
// even; a tie needs x r to land exactly on .5, which the tests show is rare enough not to
// matter). A zero multiplier maps everything to 0.
struct FixedPointMultiplier {
  int32_t multiplier = 0;
  int shift = 0;

  // Throws lowbit::Error for a negative, non-finite or too large (>= 2^30) r.
  static FixedPointMultiplier from_real(double r);
  // |x| < 2^31 (an int32 value) keeps x m + 2^(s-1) inside 64 bits; >> on a negative int64 is
  // the arithmetic (flooring) shift.
  int64_t apply(int64_t x) const {
    if (multiplier == 0 || shift >= 63) return 0;
    const int64_t product = x * static_cast<int64_t>(multiplier);
    return (product + (int64_t{1} << (shift - 1))) >> shift;
  }
  double real() const;
  // What from_real can produce: multiplier 0, or in [2^30, 2^31) with shift in [2, 63]. A packed
  // file's multipliers are checked with this before apply() ever runs on them.
  bool valid() const {
    return multiplier == 0 || (multiplier >= (1 << 30) && shift >= 2 && shift <= 63);
  }
};

// x clamped to int32.
inline int32_t saturate_int32(int64_t x) {
  return static_cast<int32_t>(x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : x));
}

}  // namespace lowbit::runtime
