// Sgd step.
#include "optim/sgd.h"

#include <cmath>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
Sgd::Sgd(std::vector<Parameter> params, SgdOptions o)
    : Optimizer(std::move(params), o.lr), options_(o) {
  LOWBIT_CHECK(o.momentum >= 0 && o.momentum < 1, "Sgd: momentum ", o.momentum,
               " must be in [0, 1)");
  LOWBIT_CHECK(o.weight_decay >= 0, "Sgd: weight_decay ", o.weight_decay, " must be >= 0");
  LOWBIT_CHECK(o.dampening >= 0 && o.dampening <= 1, "Sgd: dampening ", o.dampening,
               " must be in [0, 1]");
  LOWBIT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
               "Sgd: nesterov needs momentum > 0 and dampening 0");
  for (const Parameter& p : params_) velocity_.push_back(Tensor::zeros(p.tensor.shape()));
  started_.assign(params_.size(), false);
}

void Sgd::propose_step(size_t k, float* delta) {
  const Tensor& t = params_[k].tensor;
  const float lr = this->lr(), mu = options_.momentum, wd = options_.weight_decay;
  const float* p = t.data();
  const float* grad = t.grad();
  float* b = velocity_[k].data();
  const bool first = !started_[k];
  started_[k] = true;
  const float dampening = options_.dampening;
  const bool nesterov = options_.nesterov;
  // Elementwise, so the chunking (and the thread count) cannot change a single bit.
  parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float g = grad[i] + wd * p[i];
      if (mu > 0) {
        b[i] = first ? g : mu * b[i] + (1.0f - dampening) * g;
        g = nesterov ? g + mu * b[i] : b[i];
      }
      delta[i] = lr * g;
    }
  });
}

void Sgd::step() {
  NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    const Tensor& t = params_[k].tensor;
    if (!t.has_grad()) continue;
    // The step buffer is reused from step to step (fresh pages cost more than the arithmetic).
    delta_.resize(static_cast<size_t>(t.numel()));
    float* d = delta_.data();
    propose_step(k, d);
    float* p = t.data();
    parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] -= d[i];
    });
  }
}

void Sgd::reset_state() {
  for (const Tensor& v : velocity_) v.fill(0.0f);
  started_.assign(params_.size(), false);
}

std::vector<NamedTensor> Sgd::state() const {
  std::vector<NamedTensor> out;
  for (size_t k = 0; k < params_.size(); ++k) {
    out.push_back({"momentum." + params_[k].name, velocity_[k].clone()});
    out.push_back({"started." + params_[k].name, Tensor::scalar(started_[k] ? 1.0f : 0.0f)});
  }
  return out;
}

void Sgd::load_state(const std::vector<NamedTensor>& state) {
  for (size_t k = 0; k < params_.size(); ++k) {
    velocity_[k].copy_from(
        find_state(state, "momentum." + params_[k].name, params_[k].tensor.shape()));
    started_[k] = find_state(state, "started." + params_[k].name, Shape{}).item() != 0.0f;
  }
}

}  // namespace lowbit
