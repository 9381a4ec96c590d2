// Direct depthwise 3x3 convolution (groups == channels, padding 1, stride 1 or 2):
// memory-bound, so it reads each plane once through a zero-padded copy in cache instead
// of building an im2col matrix nine times its size.
//   x: (N, C, H, W)   weight: (C, 1, 3, 3)   y: (N, C, H_out, W_out)
#pragma once

#include "layers/kernels/conv_geometry.h"

namespace lowbit::kernels {

// True for the geometries these kernels compute: groups == in_channels == out_channels, a 3x3
// kernel, padding 1 and stride 1 or 2. The functions below take such a g (they read its batch,
// in_channels, height, width and stride).
bool depthwise3x3_applies(const ConvGeometry& g);

// y = depthwise(x) + bias (bias may be null); overwrites y.
void depthwise3x3_forward(const ConvGeometry& g, const float* x, const float* weight,
                          const float* bias, float* y);
// dx += depthwise^T(dy).
void depthwise3x3_backward_input(const ConvGeometry& g, const float* dy, const float* weight,
                                 float* dx);
// dweight += correlation of x and dy, dbias += sum of dy (either may be null). Parallel
// over channels, so every sum has one fixed order.
void depthwise3x3_backward_weight(const ConvGeometry& g, const float* x, const float* dy,
                                  float* dweight, float* dbias);

}  // namespace lowbit::kernels
