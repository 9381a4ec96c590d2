// Losses: softmax cross-entropy (fused, numerically stable, optional label smoothing),
// the distillation KL of Hinton et al. (2015) between softened logits, mean squared error, and the
// RMSE of eq. 25 of the FAT paper (distillation between a float and a quantized network's logits).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace lowbit {

// logits: (N, K); labels: N class indices in [0, K). Mean over the batch of
// -sum_k t_k log softmax(z)_k with t = (1 - eps) onehot + eps / K (PyTorch's smoothing).
Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels,
                     float label_smoothing = 0.0f);
// Knowledge distillation (Hinton et al. 2015): T^2 times the mean over the batch of
// KL(softmax(teacher / T) || softmax(student / T)), with T = temperature > 0. Both are (N, K);
// the T^2 keeps the gradient's size independent of T, so that the loss mixes with a
// cross-entropy at a fixed weight. Gradients flow to both inputs (a teacher evaluated without
// gradient simply receives none).
Tensor distillation_kl(const Tensor& student_logits, const Tensor& teacher_logits,
                       float temperature);
// mean((pred - target)^2) over all elements.
Tensor mse_loss(const Tensor& pred, const Tensor& target);
// sqrt(mean((pred - target)^2)) over all elements (eq. 25: sqrt(sum_i (zT_i - zA_i)^2 / N)).
Tensor rmse_loss(const Tensor& pred, const Tensor& target);

// The same RMSE over a batch split into shards (data parallelism, one shard per rank), as the loss
// of the shard pred and target hold: its value is `batch_rmse`, the RMSE over every shard (which
// the ranks sum from sum_square_difference), and its gradient (pred - target) / (shard's elements
// x batch_rmse). Weighted by the shard's share of the batch and summed over the shards, as the
// data-parallel step does (apps/train/train_epoch.h), that is rmse_loss's gradient over the whole
// batch. With one shard it is rmse_loss.
Tensor shard_rmse_loss(const Tensor& pred, const Tensor& target, float batch_rmse);
// sum((pred - target)^2) over all elements, in double: a shard's part of the batch's RMSE.
double sum_square_difference(const Tensor& pred, const Tensor& target);

}  // namespace lowbit
