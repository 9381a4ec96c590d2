// Integer arithmetic for integer-only inference (models/transforms/integer_model.h): fixed-point
// multipliers for requantization and the int16 x int16 -> int32 convolution and dot product.
// Everything here is exact integer arithmetic; no float value is touched.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/kernels/conv_geometry.h"

namespace lowbit::kernels {

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
};

// x clamped to int32.
inline int32_t saturate_int32(int64_t x) {
  return static_cast<int32_t>(x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : x));
}

// sum_i a[i] b[i] in int32 (the caller guarantees that it cannot overflow).
int32_t dot_int16(const int16_t* a, const int16_t* b, int64_t n);

// Scratch buffers reused from call to call (fresh ones would cost page faults on every image).
struct IntConvScratch {
  std::vector<int16_t> col, row0, row1;
  std::vector<int32_t> pairs, weight_pairs;
};

// One image (g.batch == 1). x: input codes (C, H, W); weight: codes (O, C/groups, kh, kw); out:
// (O, H_out, W_out) accumulators sum_j x_j w_j (the caller adds the bias). Padding reads code 0,
// the value 0, as the float convolution pads the quantized input with zeros. With AVX-512 VNNI
// (vpdpwssd) when the build targets it, else conv2d_int16_portable.
void conv2d_int16(const ConvGeometry& g, const int16_t* x, const int16_t* weight, int32_t* out,
                  IntConvScratch& scratch);
// The same in plain C++: im2col rows and one dot product per output (any CPU; the tests compare
// both).
void conv2d_int16_portable(const ConvGeometry& g, const int16_t* x, const int16_t* weight,
                           int32_t* out, IntConvScratch& scratch);

}  // namespace lowbit::kernels
