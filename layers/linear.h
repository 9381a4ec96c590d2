// Fully connected layers: matmul, the linear op y = x W^T + b, and the Linear module with its
// optional weight and input quantizers.
#pragma once

#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "layers/quant/quantizable_layer.h"

namespace lowbit {

// (M, K) x (K, N) -> (M, N).
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (N, in), weight: (out, in), bias: (out) or undefined -> y: (N, out).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

class Linear : public QuantizableLayer {
 public:
  // PyTorch's default initialization: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Rng& rng = global_rng());

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }

  // Quantizers, add_bias, weight and bias: layers/quant/quantizable_layer.h.
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  int64_t in_features_, out_features_;
};

}  // namespace lowbit
