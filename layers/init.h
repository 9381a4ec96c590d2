// Weight initialization as the model papers (and torchvision) specify it.
#pragma once

#include "core/rng.h"
#include "core/tensor.h"

namespace lowbit {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (PyTorch's rule).
int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

// He et al. 2015 for ReLU networks: N(0, 2 / fan).
void kaiming_normal(const Tensor& weight, int64_t fan, Rng& rng);
void normal_fill(const Tensor& t, float mean, float stddev, Rng& rng);
void uniform_fill(const Tensor& t, float low, float high, Rng& rng);

}  // namespace lowbit
