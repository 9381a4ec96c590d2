// A float convolution evaluated with the integer runtime's wide-product arithmetic
// (core/runtime/thresholds.h WideProduct): the inputs as codes at 2^-22, the weights as
// per-output-channel 24-bit codes, the sums exact in int64, and
//   y[o] = float(acc[o] step_w[o] 2^-22) (+ bias[o], in float32).
// A power-of-two network evaluates its float first layer this way (Conv2dOptions::wide_sums): the
// values differ from a float32 GEMM's by about float32's own rounding, but they are a function of
// the integers alone, in any summation order on any CPU, so the runtime's thresholds on the same
// integers reach the same activation levels exactly.
//   x: (N, C, H, W)   weight: (O, C/groups, kh, kw)   y: (N, O, H_out, W_out)
#pragma once

#include "layers/kernels/conv_geometry.h"

namespace lowbit::kernels {

// y = the wide-product convolution of x (above); bias may be null; overwrites y.
void conv2d_forward_wide(const ConvGeometry& g, const float* x, const float* weight,
                         const float* bias, float* y);

}  // namespace lowbit::kernels
