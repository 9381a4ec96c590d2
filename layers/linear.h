// Fully connected layers: matmul, the linear op y = x W^T + b, and the Linear module.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "layers/module.h"

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

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  int64_t in_features_, out_features_;
  Tensor weight_, bias_;
};

}  // namespace lowbit
