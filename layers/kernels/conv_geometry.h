// The shape of a 2-D convolution, the one description every convolution kernel takes: the float
// im2col and Winograd kernels, the depthwise 3x3 kernel and the int16 kernel of integer inference.
//   x: (batch, in_channels, height, width)   weight: (out_channels, in_channels/groups, kernel_h,
//   kernel_w)
#pragma once

#include <cstdint>

namespace lowbit::kernels {

struct ConvGeometry {
  int64_t batch = 1, in_channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, kernel_h = 1, kernel_w = 1;
  int64_t stride = 1, padding = 0, groups = 1;
  // H_out = (H + 2 padding - kh) / stride + 1, and the same for W.
  int64_t out_height() const { return (height + 2 * padding - kernel_h) / stride + 1; }
  int64_t out_width() const { return (width + 2 * padding - kernel_w) / stride + 1; }
};

}  // namespace lowbit::kernels
