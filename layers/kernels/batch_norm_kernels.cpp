// Batch norm kernels: one parallel pass per channel for the statistics and the normalization,
// one for the gradient sums and dx. Sums run in 16 float lanes per row, then in double.
#include "layers/kernels/batch_norm_kernels.h"

#include <cmath>

#include "core/parallel.h"
#include "layers/kernels/lane_sum.h"

namespace lowbit::kernels {

void batch_norm_forward(const BatchNormLayout& L, const float* x, const float* gamma,
                        const float* beta, float* running_mean, float* running_var, bool training,
                        float momentum, float eps, float* mean, float* invstd, float* y) {
  const int64_t m = L.n * L.inner;
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mu, is;
      if (training) {
        double s = 0.0, s2 = 0.0;
        for (int64_t b = 0; b < L.n; ++b) {
          const float* p = x + (b * L.c + c) * L.inner;
          s += lane_sum(L.inner, [p](int64_t i) { return p[i]; });  // per row, then in double
        }
        const double mu_d = s / static_cast<double>(m);
        for (int64_t b = 0; b < L.n; ++b) {
          const float* p = x + (b * L.c + c) * L.inner;
          const float mf = static_cast<float>(mu_d);
          s2 += lane_sum(L.inner, [p, mf](int64_t i) { return (p[i] - mf) * (p[i] - mf); });
        }
        const double var = s2 / static_cast<double>(m);
        mu = static_cast<float>(mu_d);
        is = static_cast<float>(1.0 / std::sqrt(var + eps));
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
        running_var[c] =
            (1.0f - momentum) * running_var[c] + momentum * static_cast<float>(var * m / (m - 1));
      } else {
        mu = running_mean[c];
        is = 1.0f / std::sqrt(running_var[c] + eps);
      }
      mean[c] = mu;
      invstd[c] = is;
      const float scale = (gamma ? gamma[c] : 1.0f) * is;
      const float shift = (beta ? beta[c] : 0.0f) - mu * scale;
      for (int64_t b = 0; b < L.n; ++b) {
        const float* p = x + (b * L.c + c) * L.inner;
        float* q = y + (b * L.c + c) * L.inner;
        for (int64_t i = 0; i < L.inner; ++i) q[i] = p[i] * scale + shift;
      }
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
      double sdy = 0.0, sdyx = 0.0;
      for (int64_t b = 0; b < L.n; ++b) {
        const float* p = x + (b * L.c + c) * L.inner;
        const float* d = dy + (b * L.c + c) * L.inner;
        sdy += lane_sum(L.inner, [d](int64_t i) { return d[i]; });
        sdyx += lane_sum(L.inner, [d, p, mu](int64_t i) { return d[i] * (p[i] - mu); });
      }
      const float sum_dy = static_cast<float>(sdy);
      const float sum_dy_xhat = static_cast<float>(sdyx) * is;
      if (dgamma) dgamma[c] += sum_dy_xhat;
      if (dbeta) dbeta[c] += sum_dy;
      if (!dx) continue;
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
  });
}

}  // namespace lowbit::kernels
