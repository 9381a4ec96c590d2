// Batch norm kernels: one parallel pass per channel for the statistics and the normalization,
// one for the gradient sums and dx. Sums run in 16 float lanes per row, then in double.
#include "layers/kernels/batch_norm_kernels.h"

#include <cmath>

#include "core/parallel.h"
#include "layers/kernels/lane_sum.h"

namespace lowbit::kernels {
namespace {

// The per-channel pieces, shared by the one-pass kernels and the three passes of the synchronized
// forward and backward (so that both compute exactly the same arithmetic).

// sum over channel c's values of x: per row, then in double.
double channel_sum(const BatchNormLayout& L, const float* x, int64_t c) {
  double s = 0.0;
  for (int64_t b = 0; b < L.n; ++b) {
    const float* p = x + (b * L.c + c) * L.inner;
    s += lane_sum(L.inner, [p](int64_t i) { return p[i]; });
  }
  return s;
}

// sum over channel c's values of (x - mu)^2.
double channel_centered_sum(const BatchNormLayout& L, const float* x, int64_t c, float mu) {
  double s2 = 0.0;
  for (int64_t b = 0; b < L.n; ++b) {
    const float* p = x + (b * L.c + c) * L.inner;
    s2 += lane_sum(L.inner, [p, mu](int64_t i) { return (p[i] - mu) * (p[i] - mu); });
  }
  return s2;
}

// Batch statistics from the centered sum s2 over m values: invstd = 1/sqrt(s2/m + eps), and the
// running statistics moved toward them (the variance unbiased).
float batch_invstd(double s2, int64_t m, float mu, float eps, float momentum, float& running_mean,
                   float& running_var) {
  const double var = s2 / static_cast<double>(m);
  running_mean = (1.0f - momentum) * running_mean + momentum * mu;
  running_var = (1.0f - momentum) * running_var + momentum * static_cast<float>(var * m / (m - 1));
  return static_cast<float>(1.0 / std::sqrt(var + eps));
}

// scale = gamma invstd, shift = beta - mean scale.
void channel_affine(const float* gamma, const float* beta, int64_t c, float mu, float is,
                    float& scale, float& shift) {
  scale = (gamma ? gamma[c] : 1.0f) * is;
  shift = (beta ? beta[c] : 0.0f) - mu * scale;
}

// y = x * scale + shift over channel c (channel_affine).
void channel_normalize(const BatchNormLayout& L, const float* x, const float* gamma,
                       const float* beta, int64_t c, float mu, float is, float* y) {
  float scale = 0, shift = 0;
  channel_affine(gamma, beta, c, mu, is, scale, shift);
  for (int64_t b = 0; b < L.n; ++b) {
    const float* p = x + (b * L.c + c) * L.inner;
    float* q = y + (b * L.c + c) * L.inner;
    for (int64_t i = 0; i < L.inner; ++i) q[i] = p[i] * scale + shift;
  }
}

// Evaluation's invstd from the running variance.
float eval_invstd(float running_var, float eps) { return 1.0f / std::sqrt(running_var + eps); }

// sum dy and sum dy (x - mu) over channel c.
void channel_gradient_sums(const BatchNormLayout& L, const float* x, const float* dy, int64_t c,
                           float mu, double& sdy, double& sdyx) {
  sdy = 0.0;
  sdyx = 0.0;
  for (int64_t b = 0; b < L.n; ++b) {
    const float* p = x + (b * L.c + c) * L.inner;
    const float* d = dy + (b * L.c + c) * L.inner;
    sdy += lane_sum(L.inner, [d](int64_t i) { return d[i]; });
    sdyx += lane_sum(L.inner, [d, p, mu](int64_t i) { return d[i] * (p[i] - mu); });
  }
}

// dx over channel c from the gradient sums over m values (training) or as a constant scale (eval).
void channel_dx(const BatchNormLayout& L, const float* x, const float* dy, const float* gamma,
                int64_t c, float mu, float is, bool training, float sum_dy, float sum_dy_xhat,
                int64_t m, float* dx, bool overwrite) {
  const float g = (gamma ? gamma[c] : 1.0f) * is;
  for (int64_t b = 0; b < L.n; ++b) {
    const float* p = x + (b * L.c + c) * L.inner;
    const float* d = dy + (b * L.c + c) * L.inner;
    float* q = dx + (b * L.c + c) * L.inner;
    if (training) {
      const float inv_m = 1.0f / static_cast<float>(m);
      const float k = sum_dy_xhat * is * inv_m;  // xhat * dgamma / M = (x - mu) * is * ...
      const float mean_dy = sum_dy * inv_m;
      if (overwrite) {
        for (int64_t i = 0; i < L.inner; ++i) q[i] = g * (d[i] - mean_dy - (p[i] - mu) * k);
      } else {
        for (int64_t i = 0; i < L.inner; ++i) q[i] += g * (d[i] - mean_dy - (p[i] - mu) * k);
      }
    } else if (overwrite) {
      for (int64_t i = 0; i < L.inner; ++i) q[i] = g * d[i];
    } else {
      for (int64_t i = 0; i < L.inner; ++i) q[i] += g * d[i];
    }
  }
}

}  // namespace

void batch_norm_forward(const BatchNormLayout& L, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var, bool training,
                        float momentum, float eps, float* mean, float* invstd, float* y) {
  const int64_t m = L.n * L.inner;
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mu, is;
      if (training) {
        mu = static_cast<float>(channel_sum(L, x, c) / static_cast<double>(m));
        is = batch_invstd(channel_centered_sum(L, x, c, mu), m, mu, eps, momentum, running_mean[c],
                          running_var[c]);
      } else {
        mu = running_mean[c];
        is = eval_invstd(running_var[c], eps);
      }
      mean[c] = mu;
      invstd[c] = is;
      channel_normalize(L, x, gamma, beta, c, mu, is, y);
    }
  });
}

void batch_norm_eval_affine(const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, float eps, int64_t c, float& scale,
                            float& shift) {
  channel_affine(gamma, beta, c, running_mean[c], eval_invstd(running_var[c], eps), scale, shift);
}

void batch_norm_sums(const BatchNormLayout& L, const float* x, double* sum) {
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) sum[c] = channel_sum(L, x, c);
  });
}

void batch_norm_centered_sums(const BatchNormLayout& L, const float* x, const float* mean,
                              double* centered) {
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) centered[c] = channel_centered_sum(L, x, c, mean[c]);
  });
}

void batch_norm_normalize(const BatchNormLayout& L, const float* x, const float* gamma,
                          const float* beta, const double* centered, int64_t m, float* running_mean,
                          float* running_var, float momentum, float eps, const float* mean,
                          float* invstd, float* y) {
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      invstd[c] =
          batch_invstd(centered[c], m, mean[c], eps, momentum, running_mean[c], running_var[c]);
      channel_normalize(L, x, gamma, beta, c, mean[c], invstd[c], y);
    }
  });
}

void batch_norm_backward(const BatchNormLayout& L, const float* x, const float* dy,
                         const float* gamma, const float* mean, const float* invstd, bool training,
                         float* dx, bool overwrite, float* dgamma, float* dbeta) {
  const int64_t m = L.n * L.inner;
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mu = mean[c], is = invstd[c];
      double sdy, sdyx;
      channel_gradient_sums(L, x, dy, c, mu, sdy, sdyx);
      const float sum_dy = static_cast<float>(sdy);
      const float sum_dy_xhat = static_cast<float>(sdyx) * is;
      if (dgamma) dgamma[c] += sum_dy_xhat;
      if (dbeta) dbeta[c] += sum_dy;
      if (dx)
        channel_dx(L, x, dy, gamma, c, mu, is, training, sum_dy, sum_dy_xhat, m, dx, overwrite);
    }
  });
}

void batch_norm_gradient_sums(const BatchNormLayout& L, const float* x, const float* dy,
                              const float* mean, const float* invstd, double* sums, float* dgamma,
                              float* dbeta) {
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double& sdy = sums[2 * c];
      double& sdyx = sums[2 * c + 1];
      channel_gradient_sums(L, x, dy, c, mean[c], sdy, sdyx);
      if (dgamma) dgamma[c] += static_cast<float>(sdyx) * invstd[c];
      if (dbeta) dbeta[c] += static_cast<float>(sdy);
    }
  });
}

void batch_norm_backward_from_sums(const BatchNormLayout& L, const float* x, const float* dy,
                                   const float* gamma, const float* mean, const float* invstd,
                                   const double* sums, int64_t m, float* dx, bool overwrite) {
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float sum_dy = static_cast<float>(sums[2 * c]);
      const float sum_dy_xhat = static_cast<float>(sums[2 * c + 1]) * invstd[c];
      channel_dx(L, x, dy, gamma, c, mean[c], invstd[c], true, sum_dy, sum_dy_xhat, m, dx,
                 overwrite);
    }
  });
}

}  // namespace lowbit::kernels
