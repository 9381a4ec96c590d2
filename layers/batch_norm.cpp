// batch_norm: argument checks and the backward node; the arithmetic (statistics, normalization
// and gradients) is in layers/kernels/batch_norm_kernels.h.
#include "layers/batch_norm.h"

#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/kernels/batch_norm_kernels.h"

namespace lowbit {
namespace {

kernels::BatchNormLayout layout_of(const Tensor& x) {
  LOWBIT_CHECK(x.rank() == 2 || x.rank() == 4, "batch_norm: input shape ", x.shape().str(),
               " should be (N, C) or (N, C, H, W)");
  return {x.size(0), x.size(1), x.rank() == 4 ? x.size(2) * x.size(3) : 1};
}

void check_channel_tensor(const char* what, const Tensor& t, int64_t c) {
  LOWBIT_CHECK(t.rank() == 1 && t.size(0) == c, "batch_norm: ", what, " shape ", t.shape().str(),
               " should be (", c, ",)");
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  float momentum, float eps) {
  const kernels::BatchNormLayout L = layout_of(x);
  if (weight.defined()) check_channel_tensor("weight", weight, L.c);
  if (bias.defined()) check_channel_tensor("bias", bias, L.c);
  check_channel_tensor("running_mean", running_mean, L.c);
  check_channel_tensor("running_var", running_var, L.c);
  LOWBIT_CHECK(!training || L.n * L.inner > 1,
               "batch_norm: training needs more than one value per channel, got input ",
               x.shape().str());

  // Per-channel statistics used by forward and backward: mean and 1/sqrt(var + eps).
  auto mean = std::make_shared<std::vector<float>>(static_cast<size_t>(L.c));
  auto invstd = std::make_shared<std::vector<float>>(static_cast<size_t>(L.c));
  Tensor y = Tensor::empty(x.shape());
  kernels::batch_norm_forward(L, x.data(), weight.defined() ? weight.data() : nullptr,
                              bias.defined() ? bias.data() : nullptr, running_mean.data(),
                              running_var.data(), training, momentum, eps, mean->data(),
                              invstd->data(), y.data());

  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  record(y, "batch_norm", inputs, [x, weight, bias, mean, invstd, training, L](const Tensor& out) {
    bool fresh = false;  // a fresh dx is assigned, not added into
    float* dx = x.requires_grad() ? x.grad_for_write(fresh) : nullptr;
    float* dgamma = weight.defined() && weight.requires_grad() ? weight.grad() : nullptr;
    float* dbeta = bias.defined() && bias.requires_grad() ? bias.grad() : nullptr;
    kernels::batch_norm_backward(L, x.data(), out.grad(),
                                 weight.defined() ? weight.data() : nullptr, mean->data(),
                                 invstd->data(), training, dx, fresh, dgamma, dbeta);
  });
  return y;
}

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, float momentum,
                       float eps, Communicator& ranks) {
  const kernels::BatchNormLayout L = layout_of(x);
  if (weight.defined()) check_channel_tensor("weight", weight, L.c);
  if (bias.defined()) check_channel_tensor("bias", bias, L.c);
  check_channel_tensor("running_mean", running_mean, L.c);
  check_channel_tensor("running_var", running_var, L.c);
  const size_t c = static_cast<size_t>(L.c);
  // sums[0..C): sum x per channel; sums[C]: the values per channel, summed over the ranks too.
  std::vector<double> sums(c + 1);
  kernels::batch_norm_sums(L, x.data(), sums.data());
  sums[c] = static_cast<double>(L.n * L.inner);
  ranks.allreduce_sum(sums.data(), static_cast<int64_t>(sums.size()), "synchronized batch norm");
  const auto m = static_cast<int64_t>(sums[c]);
  LOWBIT_CHECK(m > 1, "batch_norm: training needs more than one value per channel, got ", m,
               " over every rank (input ", x.shape().str(), " on this one)");
  auto mean = std::make_shared<std::vector<float>>(c);
  auto invstd = std::make_shared<std::vector<float>>(c);
  for (size_t k = 0; k < c; ++k) (*mean)[k] = static_cast<float>(sums[k] / static_cast<double>(m));
  std::vector<double> centered(c);
  kernels::batch_norm_centered_sums(L, x.data(), mean->data(), centered.data());
  ranks.allreduce_sum(centered.data(), L.c, "synchronized batch norm");
  Tensor y = Tensor::empty(x.shape());
  kernels::batch_norm_normalize(L, x.data(), weight.defined() ? weight.data() : nullptr,
                                bias.defined() ? bias.data() : nullptr, centered.data(), m,
                                running_mean.data(), running_var.data(), momentum, eps,
                                mean->data(), invstd->data(), y.data());

  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  Communicator* group = &ranks;
  record(y, "batch_norm", inputs, [x, weight, bias, mean, invstd, L, m, group](const Tensor& out) {
    float* dgamma = weight.defined() && weight.requires_grad() ? weight.grad() : nullptr;
    float* dbeta = bias.defined() && bias.requires_grad() ? bias.grad() : nullptr;
    std::vector<double> gradient_sums(static_cast<size_t>(2 * L.c));
    kernels::batch_norm_gradient_sums(L, x.data(), out.grad(), mean->data(), invstd->data(),
                                      gradient_sums.data(), dgamma, dbeta);
    if (!x.requires_grad()) return;  // alike on every rank: the graphs are the same
    group->allreduce_sum(gradient_sums.data(), 2 * L.c, "synchronized batch norm");
    bool fresh = false;
    float* dx = x.grad_for_write(fresh);
    kernels::batch_norm_backward_from_sums(L, x.data(), out.grad(),
                                           weight.defined() ? weight.data() : nullptr, mean->data(),
                                           invstd->data(), gradient_sums.data(), m, dx, fresh);
  });
  return y;
}

BatchNorm::BatchNorm(int64_t channels, float momentum, float eps, bool affine)
    : channels_(channels), momentum_(momentum), eps_(eps) {
  LOWBIT_CHECK(channels > 0, "BatchNorm: channels ", channels, " must be positive");
  LOWBIT_CHECK(momentum >= 0 && momentum <= 1, "BatchNorm: momentum ", momentum,
               " must be in [0, 1]");
  LOWBIT_CHECK(eps > 0, "BatchNorm: eps ", eps, " must be positive");
  if (affine) {
    weight_ = register_parameter("weight", ParamRole::kNormScale, Tensor::full({channels}, 1.0f));
    bias_ = register_parameter("bias", ParamRole::kNormShift, Tensor::zeros({channels}));
  }
  running_mean_ = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = register_buffer("running_var", Tensor::full({channels}, 1.0f));
}

void BatchNorm::set_momentum(float momentum) {
  LOWBIT_CHECK(momentum >= 0 && momentum <= 1, "BatchNorm: momentum ", momentum,
               " must be in [0, 1]");
  momentum_ = momentum;
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (is_training() && ranks_ != nullptr && ranks_->distributed())
    return sync_batch_norm(x, weight_, bias_, running_mean_, running_var_, momentum_, eps_,
                           *ranks_);
  return batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_);
}

}  // namespace lowbit
