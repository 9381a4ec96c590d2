// Integer arithmetic for integer-only inference (models/transforms/integer_model.h): the
// fixed-point multipliers of requantization (core/runtime/fixed_point.h) and the int16 x int16 ->
// int32 convolution and dot product. Everything here is exact integer arithmetic; no float value is
// touched.
#pragma once

#include <cstdint>
#include <vector>

#include "core/runtime/fixed_point.h"
#include "layers/kernels/conv_geometry.h"

namespace lowbit::kernels {

using runtime::FixedPointMultiplier;
using runtime::saturate_int32;

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
