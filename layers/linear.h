// Fully connected layers: matmul, the linear op y = x W^T + b, and the Linear module with its
// optional weight and input quantizers.
#pragma once

#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "layers/quant/quantizer.h"

namespace lowbit {

// (M, K) x (K, N) -> (M, N).
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (N, in), weight: (out, in), bias: (out) or undefined -> y: (N, out).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

class Linear : public Module {
 public:
  // PyTorch's default initialization: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Rng& rng = global_rng());

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }

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
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  int64_t in_features_, out_features_;
  Tensor weight_, bias_;
  std::shared_ptr<Quantizer> weight_quantizer_, input_quantizer_;
};

}  // namespace lowbit
