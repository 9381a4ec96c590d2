// Batch normalization (Ioffe and Szegedy 2015) for (N, C) and (N, C, H, W) inputs.
// Training: batch statistics (biased variance to normalize), running averages updated
// with momentum as PyTorch does (the running variance gets the unbiased estimate).
// Evaluation: the running statistics.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace lowbit {

// weight/bias: (C) or undefined (no affine); running_mean/running_var: (C), updated in
// place in training mode.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  float momentum = 0.1f, float eps = 1e-5f);

class BatchNorm : public Module {
 public:
  explicit BatchNorm(int64_t channels, float momentum = 0.1f, float eps = 1e-5f,
                     bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BatchNorm"; }

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  float eps() const { return eps_; }
  int64_t channels() const { return channels_; }
  float momentum() const { return momentum_; }
  // The weight of the next training batch in the running statistics (re-estimation sets 1/k).
  void set_momentum(float momentum);

 private:
  int64_t channels_;
  float momentum_, eps_;
  Tensor weight_, bias_, running_mean_, running_var_;
};

}  // namespace lowbit
