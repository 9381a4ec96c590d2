// Adam step.
#include "optim/adam.h"

#include <cmath>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
Adam::Adam(std::vector<Parameter> params, AdamOptions o)
    : Optimizer(std::move(params), o.lr), options_(o) {
  LOWBIT_CHECK(o.beta1 >= 0 && o.beta1 < 1, "Adam: beta1 ", o.beta1, " must be in [0, 1)");
  LOWBIT_CHECK(o.beta2 >= 0 && o.beta2 < 1, "Adam: beta2 ", o.beta2, " must be in [0, 1)");
  LOWBIT_CHECK(o.eps > 0, "Adam: eps ", o.eps, " must be > 0");
  LOWBIT_CHECK(o.weight_decay >= 0, "Adam: weight_decay ", o.weight_decay, " must be >= 0");
  for (const Parameter& p : params_) {
    exp_avg_.push_back(Tensor::zeros(p.tensor.shape()));
    exp_avg_sq_.push_back(Tensor::zeros(p.tensor.shape()));
  }
  steps_.assign(params_.size(), 0);
}

void Adam::propose_step(size_t k, float* delta) {
  const Tensor& t = params_[k].tensor;
  const float* p = t.data();
  const float* grad = t.grad();
  float* m = exp_avg_[k].data();
  float* v = exp_avg_sq_[k].data();
  const int64_t step = ++steps_[k];
  const float b1 = options_.beta1, b2 = options_.beta2;
  const float c1 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(b1), static_cast<double>(step)));
  const float c2 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(b2), static_cast<double>(step)));
  const float l2 = options_.decoupled_weight_decay ? 0.0f : options_.weight_decay;
  const float lr = this->lr(), sqrt_c2 = std::sqrt(c2);
  const float eps = options_.eps;
  // Elementwise, so the chunking (and the thread count) cannot change a single bit.
  parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grad[i] + l2 * p[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      delta[i] = lr * (m[i] / c1) / (std::sqrt(v[i]) / sqrt_c2 + eps);
    }
  });
}

void Adam::step() {
  NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    const Tensor& t = params_[k].tensor;
    if (!t.has_grad()) continue;
    float* p = t.data();
    if (options_.decoupled_weight_decay && options_.weight_decay > 0) {
      const float shrink = 1.0f - lr() * options_.weight_decay;
      parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) p[i] *= shrink;
      });
    }
    // The step buffer is reused from step to step (fresh pages cost more than the arithmetic).
    delta_.resize(static_cast<size_t>(t.numel()));
    float* d = delta_.data();
    propose_step(k, d);
    parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] -= d[i];
    });
  }
}

void Adam::reset_state() {
  for (size_t k = 0; k < params_.size(); ++k) {
    exp_avg_[k].fill(0.0f);
    exp_avg_sq_[k].fill(0.0f);
    steps_[k] = 0;
  }
}

std::vector<NamedTensor> Adam::state() const {
  std::vector<NamedTensor> out;
  for (size_t k = 0; k < params_.size(); ++k) {
    out.push_back({"exp_avg." + params_[k].name, exp_avg_[k].clone()});
    out.push_back({"exp_avg_sq." + params_[k].name, exp_avg_sq_[k].clone()});
    out.push_back({"step." + params_[k].name, Tensor::scalar(static_cast<float>(steps_[k]))});
  }
  return out;
}

void Adam::load_state(const std::vector<NamedTensor>& state) {
  for (size_t k = 0; k < params_.size(); ++k) {
    const Shape& shape = params_[k].tensor.shape();
    exp_avg_[k].copy_from(find_state(state, "exp_avg." + params_[k].name, shape));
    exp_avg_sq_[k].copy_from(find_state(state, "exp_avg_sq." + params_[k].name, shape));
    steps_[k] = static_cast<int64_t>(find_state(state, "step." + params_[k].name, Shape{}).item());
  }
}

}  // namespace lowbit
