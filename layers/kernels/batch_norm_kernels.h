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

// Evaluation's affine map of channel c, y = x * scale + shift, as batch_norm_forward computes it
// (this file has no fused multiply-adds): invstd = 1 / sqrt(var + eps), scale = gamma invstd,
// shift = beta - mean scale, each rounded to float. The integer runtime's float join
// (core/runtime/float_join.h) takes its scale and shift from here, to repeat the same floats.
void batch_norm_eval_affine(const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, float eps, int64_t c, float& scale,
                            float& shift);

// With the mean and invstd the forward wrote:
//   dgamma += sum dy*xhat, dbeta += sum dy (either may be null: not wanted),
//   training: dx = gamma*invstd/M * (M*dy - sum dy - xhat * sum dy*xhat)
//   eval:     dx = gamma*invstd * dy (the statistics are constants),
// added into dx, or with `overwrite` assigned (dx may then be uninitialized); dx may be null.
// gamma may be null (1). Channels run in parallel; sums in double in a fixed order.
void batch_norm_backward(const BatchNormLayout& L, const float* x, const float* dy,
                         const float* gamma, const float* mean, const float* invstd, bool training,
                         float* dx, bool overwrite, float* dgamma, float* dbeta);

// Synchronized batch norm (data parallelism): the training forward and backward of the whole batch
// when each process holds a shard of it, as passes between which the caller sums per-channel
// numbers over the processes. With M the values per channel over all the shards:
//   forward:  sum[c] = sum x (this shard)                       -> summed; mean[c] = float(sum/M)
//             centered[c] = sum (x - mean[c])^2                 -> summed
//             batch_norm_normalize: invstd, running statistics and y from mean and centered
//   backward: sums[2c] = sum dy, sums[2c+1] = sum dy (x - mean)  -> summed
//             batch_norm_backward_from_sums: dx
// Each per-channel step is the arithmetic batch_norm_forward / batch_norm_backward do in one pass,
// so that one process computes the same numbers either way. dgamma and dbeta get this shard's
// part only (the gradient sum over the ranks adds the others').
void batch_norm_sums(const BatchNormLayout& L, const float* x, double* sum);
void batch_norm_centered_sums(const BatchNormLayout& L, const float* x, const float* mean,
                              double* centered);
void batch_norm_normalize(const BatchNormLayout& L, const float* x, const float* gamma,
                          const float* beta, const double* centered, int64_t m, float* running_mean,
                          float* running_var, float momentum, float eps, const float* mean,
                          float* invstd, float* y);
// sums: (C, 2). dgamma / dbeta may be null.
void batch_norm_gradient_sums(const BatchNormLayout& L, const float* x, const float* dy,
                              const float* mean, const float* invstd, double* sums, float* dgamma,
                              float* dbeta);
void batch_norm_backward_from_sums(const BatchNormLayout& L, const float* x, const float* dy,
                                   const float* gamma, const float* mean, const float* invstd,
                                   const double* sums, int64_t m, float* dx, bool overwrite);

}  // namespace lowbit::kernels
