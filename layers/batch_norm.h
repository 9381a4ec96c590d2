// Batch normalization (Ioffe and Szegedy 2015) for (N, C) and (N, C, H, W) inputs.
// Training: batch statistics (biased variance to normalize), running averages updated
// with momentum as PyTorch does (the running variance gets the unbiased estimate).
// Evaluation: the running statistics. Data-parallel training may synchronize it over the ranks
// (sync_batch_norm).
#pragma once

#include <cstdint>

#include "core/distributed/communicator.h"
#include "layers/module.h"

namespace lowbit {

// weight/bias: (C) or undefined (no affine); running_mean/running_var: (C), updated in
// place in training mode.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  float momentum = 0.1f, float eps = 1e-5f);

// Synchronized batch norm in training (data parallelism, lowbit-train --sync-bn): every rank holds
// a shard of the batch, and all of them normalize with the statistics of the whole batch. The
// per-channel sums (two in the forward: the mean's, then the variance's around it; one in the
// backward: sum dy and sum dy xhat) are summed over `ranks` between the passes of
// kernels/batch_norm_kernels.h, so that every rank gets the same mean, variance and running
// statistics, and dx of its shard as one process computes it for the whole batch. weight and bias
// get this shard's part of their gradients (the ranks' gradient sum adds the rest).
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, float momentum,
                       float eps, Communicator& ranks);

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
  // In training with more than one rank, the statistics of the whole batch over `ranks`
  // (sync_batch_norm); null: this process's batch alone. `ranks` must outlive the module.
  void synchronize(Communicator* ranks) { ranks_ = ranks; }
  bool synchronized() const { return ranks_ != nullptr; }

 private:
  int64_t channels_;
  float momentum_, eps_;
  Communicator* ranks_ = nullptr;
  Tensor weight_, bias_, running_mean_, running_var_;
};

}  // namespace lowbit
