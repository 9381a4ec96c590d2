// Optimizer base: gradients, learning rate and state lookup.
#include "optim/optimizer.h"

#include <cmath>

#include "core/check.h"

namespace lowbit {

Optimizer::Optimizer(std::vector<Parameter> params, float lr)
    : params_(std::move(params)), lr_(lr), base_lr_(lr) {
  LOWBIT_CHECK(lr >= 0 && std::isfinite(lr), "optimizer: learning rate ", lr, " must be >= 0");
  for (const Parameter& p : params_) {
    LOWBIT_CHECK(p.tensor.defined(), "optimizer: parameter '", p.name, "' is undefined");
  }
}

void Optimizer::zero_grad() {
  for (const Parameter& p : params_) p.tensor.zero_grad();
}

void Optimizer::set_lr(float lr) {
  LOWBIT_CHECK(lr >= 0 && std::isfinite(lr), "optimizer: learning rate ", lr, " must be >= 0");
  lr_ = lr;
}

const Tensor& Optimizer::find_state(const std::vector<NamedTensor>& state, const std::string& name,
                                    const Shape& shape) {
  for (const NamedTensor& s : state) {
    if (s.name != name) continue;
    LOWBIT_CHECK(s.tensor.shape() == shape, "optimizer state '", name, "' has shape ",
                 s.tensor.shape().str(), ", expected ", shape.str());
    return s.tensor;
  }
  throw Error(concat("optimizer state has no entry '", name, "'"));
}

const NamedBlob& Optimizer::find_blob(const std::vector<NamedBlob>& blobs,
                                      const std::string& name) {
  for (const NamedBlob& b : blobs) {
    if (b.name == name) return b;
  }
  throw Error(concat("optimizer blob state has no entry '", name, "'"));
}

}  // namespace lowbit
