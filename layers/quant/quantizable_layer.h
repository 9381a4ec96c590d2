// QuantizableLayer: what Conv2d and Linear share, a weight (and optional bias) whose product takes
// optional quantizers by composition (DESIGN: the layer never knows which scheme runs). The weight
// quantizer maps the weight and the input quantizer the input before the product; absent ones
// leave the float path as it was. Each is registered as a child ("weight_quantizer",
// "input_quantizer"), so its trained scales and calibrated thresholds are the model's parameters
// and buffers. A layer takes each quantizer once (a module cannot drop a registered child): a
// second call, or a null quantizer, throws.
#pragma once

#include <memory>

#include "layers/module.h"
#include "layers/quant/quantizer.h"

namespace lowbit {

class QuantizableLayer : public Module {
 public:
  void set_weight_quantizer(std::shared_ptr<Quantizer> quantizer);
  void set_input_quantizer(std::shared_ptr<Quantizer> quantizer);
  const std::shared_ptr<Quantizer>& weight_quantizer() const { return weight_quantizer_; }
  const std::shared_ptr<Quantizer>& input_quantizer() const { return input_quantizer_; }
  // Adds a zero bias (role kBias, one per output: the weight's first dimension) if the layer has
  // none and returns the bias: BN folding (models/transforms/bn_folding.h) gives every folded layer
  // one.
  const Tensor& add_bias();

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 protected:
  // Whether any quantizer is attached (without one, the product runs on the float tensors).
  bool quantized() const { return input_quantizer_ || weight_quantizer_; }
  // x and the weight through their quantizers, each when it has one.
  Tensor quantized_input(const Tensor& x) const;
  Tensor quantized_weight() const;

  Tensor weight_, bias_;  // registered by the layer's constructor

 private:
  std::shared_ptr<Quantizer> weight_quantizer_, input_quantizer_;
};

}  // namespace lowbit
