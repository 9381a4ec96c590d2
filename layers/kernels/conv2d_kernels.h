// Grouped 2-D convolution kernels over raw arrays (no autograd): im2col + sgemm, with the
// forward, input and weight gradient of 3x3 stride-1 convolutions on Winograd F(4x4, 3x3) where
// it pays.
//   x: (N, C_in, H, W)   weight: (C_out, C_in/groups, kh, kw)   y: (N, C_out, H_out, W_out)
// Images are processed in chunks so that each GEMM has at least a few hundred columns
// even for 4x4 feature maps; chunks run in parallel (OpenMP), each GEMM single-threaded.
#pragma once

#include "layers/kernels/conv_geometry.h"

namespace lowbit::kernels {

// y = conv(x, weight) + bias (bias may be null). Overwrites y.
void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y);
// dx += conv_transpose(dy, weight).
void conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* weight, float* dx);
// With `overwrite`: dx = conv_transpose(dy, weight); every element is written, so dx may
// be uninitialized (a fresh gradient buffer needs no zero fill).
void conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* weight, float* dx,
                           bool overwrite);
// The im2col + sgemm formulation of the two functions above, for every geometry (they use it
// wherever conv2d_uses_winograd is false; benchmarks and tests call it directly).
void conv2d_forward_im2col(const ConvGeometry& g, const float* x, const float* weight,
                           const float* bias, float* y);
void conv2d_backward_input_im2col(const ConvGeometry& g, const float* dy, const float* weight,
                                  float* dx, bool overwrite);
// True when conv2d_forward and conv2d_backward_input take the Winograd path
// (layers/kernels/winograd3x3.h) for g.
bool conv2d_uses_winograd(const ConvGeometry& g);
// dweight += dy (x) im2col(x)^T, dbias += sum of dy over (N, H_out, W_out); either may be null.
// Partial sums per thread are added in a fixed order: deterministic for a thread count.
// dweight comes from winograd3x3_backward_weight where conv2d_backward_weight_uses_winograd(g).
void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                            float* dbias);
// Its im2col + sgemm formulation, for every geometry (benchmarks and tests call it directly).
void conv2d_backward_weight_im2col(const ConvGeometry& g, const float* x, const float* dy,
                                   float* dweight, float* dbias);
// True when conv2d_backward_weight takes the Winograd path for dweight.
bool conv2d_backward_weight_uses_winograd(const ConvGeometry& g);

}  // namespace lowbit::kernels
