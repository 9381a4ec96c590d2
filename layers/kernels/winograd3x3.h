// Winograd minimal filtering F(4x4, 3x3) for 3x3 convolutions with stride 1, padding 1 and one
// group (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks"):
// 4x fewer multiplies than direct convolution. The math is in the .cpp, the measurements in
// docs/performance.md ('Winograd').
//   x: (N, C_in, H, W)   weight: (C_out, C_in, 3, 3)   y: (N, C_out, H, W), any H, W >= 1
// Parallel over contiguous ranges of images, one per thread, in fixed chunks: the results are
// bit-identical for a given thread count.
#pragma once

#include "layers/kernels/conv_geometry.h"

namespace lowbit::kernels {

// True for the geometries these kernels compute: 3x3 kernel, stride 1, padding 1, one group.
bool winograd3x3_applies(const ConvGeometry& g);

// y = conv(x, weight) + bias (bias may be null). Overwrites y.
void winograd3x3_forward(const ConvGeometry& g, const float* x, const float* weight,
                         const float* bias, float* y);
// dx += conv_transpose(dy, weight), or with `overwrite` dx = conv_transpose(dy, weight)
// (every element written, so dx may be uninitialized).
void winograd3x3_backward_input(const ConvGeometry& g, const float* dy, const float* weight,
                                float* dx, bool overwrite);
// dweight += the weight gradient (C_out, C_in, 3, 3) of conv(x, weight) for output gradient dy
// (the bias gradient, the sum of dy, is not computed here).
void winograd3x3_backward_weight(const ConvGeometry& g, const float* x, const float* dy,
                                 float* dweight);

}  // namespace lowbit::kernels
