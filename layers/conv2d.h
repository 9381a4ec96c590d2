// 2-D convolution: the conv2d op (any kernel size, stride, padding, groups; depthwise 3x3
// on a dedicated kernel) and the Conv2d module with its optional weight and input quantizers.
#pragma once

#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "layers/quant/quantizer.h"

namespace lowbit {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;
};

// x: (N, C_in, H, W); weight: (C_out, C_in/groups, kh, kw); bias: (C_out) or undefined.
// y: (N, C_out, (H + 2p - kh)/s + 1, (W + 2p - kw)/s + 1).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});

class Conv2d : public Module {
 public:
  // PyTorch's default initialization (kaiming_uniform with a = sqrt(5)): weight and bias
  // ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the models re-initialize as their papers do.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options = {},
         bool bias = true, Rng& rng = global_rng());

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }

  // Optional quantizers, by composition (DESIGN: the layer never knows which scheme runs). The
  // weight quantizer maps the weight and the input quantizer the input before the product; absent
  // ones leave the float path as it was. Each is registered as a child ("weight_quantizer",
  // "input_quantizer"), so its trained scales and calibrated thresholds are the model's parameters
  // and buffers. A layer takes each quantizer once (a module cannot drop a registered child): a
  // second call, or a null quantizer, throws.
  void set_weight_quantizer(std::shared_ptr<Quantizer> quantizer);
  void set_input_quantizer(std::shared_ptr<Quantizer> quantizer);
  const std::shared_ptr<Quantizer>& weight_quantizer() const { return weight_quantizer_; }
  const std::shared_ptr<Quantizer>& input_quantizer() const { return input_quantizer_; }
  // Adds a zero bias (role kBias) if the layer has none and returns the bias: BN folding
  // (models/transforms/bn_folding.h) gives every folded layer one.
  const Tensor& add_bias();

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Conv2dOptions& options() const { return options_; }
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t kernel_size() const { return kernel_size_; }

 private:
  int64_t in_channels_, out_channels_, kernel_size_;
  Conv2dOptions options_;
  Tensor weight_, bias_;
  std::shared_ptr<Quantizer> weight_quantizer_, input_quantizer_;
};

}  // namespace lowbit
