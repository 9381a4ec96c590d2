// batch_norm with its backward. Per channel c over its M = N*H*W values:
//   xhat = (x - mean) * invstd,  y = gamma * xhat + beta
//   training: dgamma = sum dy*xhat, dbeta = sum dy,
//             dx = gamma*invstd/M * (M*dy - dbeta - xhat*dgamma)
//   eval:     dx = gamma*invstd * dy (the statistics are constants)
// Channels run in parallel; every sum is accumulated in double in a fixed order.
#include "layers/batch_norm.h"

#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "layers/kernels/lane_sum.h"

namespace lowbit {
namespace {

struct Layout {
  int64_t n, c, inner;  // x viewed as (n, c, inner)
};

Layout layout_of(const Tensor& x) {
  LOWBIT_CHECK(x.rank() == 2 || x.rank() == 4, "batch_norm: input shape ", x.shape().str(),
               " should be (N, C) or (N, C, H, W)");
  return {x.size(0), x.size(1), x.rank() == 4 ? x.size(2) * x.size(3) : 1};
}

void check_channel_tensor(const char* what, const Tensor& t, int64_t c) {
  LOWBIT_CHECK(t.rank() == 1 && t.size(0) == c, "batch_norm: ", what, " shape ", t.shape().str(), " should be (", c, ",)");
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, float momentum, float eps) {
  const Layout L = layout_of(x);
  if (weight.defined()) check_channel_tensor("weight", weight, L.c);
  if (bias.defined()) check_channel_tensor("bias", bias, L.c);
  check_channel_tensor("running_mean", running_mean, L.c);
  check_channel_tensor("running_var", running_var, L.c);
  const int64_t m = L.n * L.inner;
  LOWBIT_CHECK(!training || m > 1, "batch_norm: training needs more than one value per channel, got input ",
               x.shape().str());

  // Per-channel statistics used by forward and backward: mean and 1/sqrt(var + eps).
  auto mean = std::make_shared<std::vector<float>>(static_cast<size_t>(L.c));
  auto invstd = std::make_shared<std::vector<float>>(static_cast<size_t>(L.c));
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  const float* gamma = weight.defined() ? weight.data() : nullptr;
  const float* beta = bias.defined() ? bias.data() : nullptr;
  float* rm = running_mean.data();
  float* rv = running_var.data();
  parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mu, is;
      if (training) {
        double s = 0.0, s2 = 0.0;
        for (int64_t b = 0; b < L.n; ++b) {
          const float* p = px + (b * L.c + c) * L.inner;
          s += kernels::lane_sum(L.inner, [p](int64_t i) { return p[i]; });  // per row, then in double
        }
        const double mu_d = s / static_cast<double>(m);
        for (int64_t b = 0; b < L.n; ++b) {
          const float* p = px + (b * L.c + c) * L.inner;
          const float mf = static_cast<float>(mu_d);
          s2 += kernels::lane_sum(L.inner, [p, mf](int64_t i) { return (p[i] - mf) * (p[i] - mf); });
        }
        const double var = s2 / static_cast<double>(m);
        mu = static_cast<float>(mu_d);
        is = static_cast<float>(1.0 / std::sqrt(var + eps));
        rm[c] = (1.0f - momentum) * rm[c] + momentum * mu;
        rv[c] = (1.0f - momentum) * rv[c] + momentum * static_cast<float>(var * m / (m - 1));
      } else {
        mu = rm[c];
        is = 1.0f / std::sqrt(rv[c] + eps);
      }
      (*mean)[static_cast<size_t>(c)] = mu;
      (*invstd)[static_cast<size_t>(c)] = is;
      const float scale = (gamma ? gamma[c] : 1.0f) * is;
      const float shift = (beta ? beta[c] : 0.0f) - mu * scale;
      for (int64_t b = 0; b < L.n; ++b) {
        const float* p = px + (b * L.c + c) * L.inner;
        float* q = py + (b * L.c + c) * L.inner;
        for (int64_t i = 0; i < L.inner; ++i) q[i] = p[i] * scale + shift;
      }
    }
  });

  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  record(y, "batch_norm", inputs, [x, weight, bias, mean, invstd, training, L, m](const Tensor& out) {
    const float* dy = out.grad();
    const float* px = x.data();
    bool fresh = false;  // a fresh dx is assigned, not added into
    float* dx = x.requires_grad() ? x.grad_for_write(fresh) : nullptr;
    float* dgamma = weight.defined() && weight.requires_grad() ? weight.grad() : nullptr;
    float* dbeta = bias.defined() && bias.requires_grad() ? bias.grad() : nullptr;
    const float* gamma = weight.defined() ? weight.data() : nullptr;
    parallel_for(L.c, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const float mu = (*mean)[static_cast<size_t>(c)], is = (*invstd)[static_cast<size_t>(c)];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t b = 0; b < L.n; ++b) {
          const float* p = px + (b * L.c + c) * L.inner;
          const float* d = dy + (b * L.c + c) * L.inner;
          sdy += kernels::lane_sum(L.inner, [d](int64_t i) { return d[i]; });
          sdyx += kernels::lane_sum(L.inner, [d, p, mu](int64_t i) { return d[i] * (p[i] - mu); });
        }
        const float sum_dy = static_cast<float>(sdy);
        const float sum_dy_xhat = static_cast<float>(sdyx) * is;
        if (dgamma) dgamma[c] += sum_dy_xhat;
        if (dbeta) dbeta[c] += sum_dy;
        if (!dx) continue;
        const float g = (gamma ? gamma[c] : 1.0f) * is;
        for (int64_t b = 0; b < L.n; ++b) {
          const float* p = px + (b * L.c + c) * L.inner;
          const float* d = dy + (b * L.c + c) * L.inner;
          float* q = dx + (b * L.c + c) * L.inner;
          if (training) {
            const float inv_m = 1.0f / static_cast<float>(m);
            const float k = sum_dy_xhat * is * inv_m;  // xhat * dgamma / M = (x - mu) * is * ...
            const float mean_dy = sum_dy * inv_m;
            if (fresh) {
              for (int64_t i = 0; i < L.inner; ++i) q[i] = g * (d[i] - mean_dy - (p[i] - mu) * k);
            } else {
              for (int64_t i = 0; i < L.inner; ++i) q[i] += g * (d[i] - mean_dy - (p[i] - mu) * k);
            }
          } else if (fresh) {
            for (int64_t i = 0; i < L.inner; ++i) q[i] = g * d[i];
          } else {
            for (int64_t i = 0; i < L.inner; ++i) q[i] += g * d[i];
          }
        }
      }
    });
  });
  return y;
}

BatchNorm::BatchNorm(int64_t channels, float momentum, float eps, bool affine)
    : channels_(channels), momentum_(momentum), eps_(eps) {
  LOWBIT_CHECK(channels > 0, "BatchNorm: channels ", channels, " must be positive");
  LOWBIT_CHECK(momentum >= 0 && momentum <= 1, "BatchNorm: momentum ", momentum, " must be in [0, 1]");
  LOWBIT_CHECK(eps > 0, "BatchNorm: eps ", eps, " must be positive");
  if (affine) {
    weight_ = register_parameter("weight", ParamRole::kNormScale, Tensor::full({channels}, 1.0f));
    bias_ = register_parameter("bias", ParamRole::kNormShift, Tensor::zeros({channels}));
  }
  running_mean_ = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = register_buffer("running_var", Tensor::full({channels}, 1.0f));
}

void BatchNorm::set_momentum(float momentum) {
  LOWBIT_CHECK(momentum >= 0 && momentum <= 1, "BatchNorm: momentum ", momentum, " must be in [0, 1]");
  momentum_ = momentum;
}

Tensor BatchNorm::forward(const Tensor& x) {
  return batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_);
}

}  // namespace lowbit
