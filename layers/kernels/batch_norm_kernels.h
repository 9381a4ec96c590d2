// Batch normalization over raw arrays (no autograd): the forward with its batch or running
// statistics, and the backward. Per channel c over its M = N*inner values:
//   xhat = (x - mean) * invstd,  y = gamma * xhat + beta
//   x, y, dy, dx: (N, C, inner)   gamma, beta, mean, invstd, running statistics: (C)
#pragma once

#include <cstdint>

namespace lowbit::kernels {

struct BatchNormLayout {
  int64_t n, c, inner;  // x viewed as (n, c, inner); inner = H*W, or 1 for (N, C)
};

// Training: mean and invstd = 1/sqrt(var + eps) are the batch's (biased variance), and the
// running statistics move toward them by `momentum` (the variance unbiased, times M/(M-1)).
// Otherwise mean and invstd come from the running statistics, which stay unchanged. Writes
// mean, invstd (C) and y; gamma / beta may be null (1 / 0). Channels run in parallel, every sum
// accumulated in a fixed order.
void batch_norm_forward(const BatchNormLayout& L, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var, bool training,
                        float momentum, float eps, float* mean, float* invstd, float* y);

// With the mean and invstd the forward wrote:
//   dgamma += sum dy*xhat, dbeta += sum dy (either may be null: not wanted),
//   training: dx = gamma*invstd/M * (M*dy - sum dy - xhat * sum dy*xhat)
//   eval:     dx = gamma*invstd * dy (the statistics are constants),
// added into dx, or with `overwrite` assigned (dx may then be uninitialized); dx may be null.
// gamma may be null (1). Channels run in parallel; sums in double in a fixed order.
void batch_norm_backward(const BatchNormLayout& L, const float* x, const float* dy,
                         const float* gamma, const float* mean, const float* invstd, bool training,
                         float* dx, bool overwrite, float* dgamma, float* dbeta);

}  // namespace lowbit::kernels
