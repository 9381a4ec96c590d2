// 2-D convolution: the conv2d op (any kernel size, stride, padding, groups; depthwise 3x3
// on a dedicated kernel) and the Conv2d module with its optional weight and input quantizers.
#pragma once

#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "layers/quant/quantizable_layer.h"

namespace lowbit {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;
  // In evaluation (no gradient recorded), sum the products directly (im2col and one GEMM), never
  // through Winograd's transforms, whose 1/6 and 1/24 round each sum by ~1e-6 of its size. Set on
  // power-of-two layers: their products of grid weights and activation levels are exact, so their
  // sums are too in any order, and a runtime that sums directly (ONNX Runtime) reaches the
  // activation thresholds with the same floats. Training keeps Winograd where it is faster.
  bool exact_sums = false;
  // In evaluation, compute with the integer runtime's wide-product arithmetic
  // (layers/kernels/wide_conv.h: inputs at 2^-22, 24-bit weight codes, exact int64 sums). Set on a
  // power-of-two network's float first layer, which the runtime runs that way: its activation
  // levels are then the same integers' in both, where a float32 GEMM's rounding, different on
  // every CPU, flipped a level near a threshold in about 1% of images.
  bool wide_sums = false;
};

// x: (N, C_in, H, W); weight: (C_out, C_in/groups, kh, kw); bias: (C_out) or undefined.
// y: (N, C_out, (H + 2p - kh)/s + 1, (W + 2p - kw)/s + 1).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});

class Conv2d : public QuantizableLayer {
 public:
  // PyTorch's default initialization (kaiming_uniform with a = sqrt(5)): weight and bias
  // ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the models re-initialize as their papers do.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options = {},
         bool bias = true, Rng& rng = global_rng());

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }

  // Quantizers, add_bias, weight and bias: layers/quant/quantizable_layer.h.
  const Conv2dOptions& options() const { return options_; }
  void set_exact_sums(bool exact) { options_.exact_sums = exact; }
  void set_wide_sums(bool wide) { options_.wide_sums = wide; }
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t kernel_size() const { return kernel_size_; }

 private:
  int64_t in_channels_, out_channels_, kernel_size_;
  Conv2dOptions options_;
};

}  // namespace lowbit
