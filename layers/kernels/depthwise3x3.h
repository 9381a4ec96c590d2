// Direct depthwise 3x3 convolution (groups == channels, padding 1, stride 1 or 2):
// memory-bound, so it reads each plane once through a zero-padded copy in cache instead
// of building an im2col matrix nine times its size.
//   x: (N, C, H, W)   weight: (C, 1, 3, 3)   y: (N, C, H_out, W_out)
#pragma once

#include <cstdint>

namespace lowbit::kernels {

// y = depthwise(x) + bias (bias may be null); overwrites y.
void depthwise3x3_forward(int64_t n, int64_t c, int64_t h, int64_t w, int64_t stride, const float* x,
                          const float* weight, const float* bias, float* y);
// dx += depthwise^T(dy).
void depthwise3x3_backward_input(int64_t n, int64_t c, int64_t h, int64_t w, int64_t stride, const float* dy,
                                 const float* weight, float* dx);
// dweight += correlation of x and dy, dbias += sum of dy (either may be null). Parallel
// over channels, so every sum has one fixed order.
void depthwise3x3_backward_weight(int64_t n, int64_t c, int64_t h, int64_t w, int64_t stride, const float* x,
                                  const float* dy, float* dweight, float* dbias);

}  // namespace lowbit::kernels
