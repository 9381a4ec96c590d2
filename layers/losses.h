// Losses: softmax cross-entropy (fused, numerically stable, optional label smoothing),
// mean squared error, and the RMSE of eq. 25 of the FAT paper (distillation between a
// float and a quantized network's logits).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace lowbit {

// logits: (N, K); labels: N class indices in [0, K). Mean over the batch of
// -sum_k t_k log softmax(z)_k with t = (1 - eps) onehot + eps / K (PyTorch's smoothing).
Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels, float label_smoothing = 0.0f);
// mean((pred - target)^2) over all elements.
Tensor mse_loss(const Tensor& pred, const Tensor& target);
// sqrt(mean((pred - target)^2)) over all elements (eq. 25: sqrt(sum_i (zT_i - zA_i)^2 / N)).
Tensor rmse_loss(const Tensor& pred, const Tensor& target);

}  // namespace lowbit
