// Tensor: construction, element access and gradient buffers.
#include "core/tensor.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/node.h"

namespace lowbit {
namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->data = std::make_shared<Storage>(static_cast<size_t>(shape.numel()));
  return impl;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape) { return Tensor(make_impl(shape)); }

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.0f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  LOWBIT_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
               " values given for shape ", shape.str(), " (expected ", shape.numel(), ")");
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

const Shape& Tensor::shape() const {
  LOWBIT_CHECK(impl_, "use of an undefined tensor");
  return impl_->shape;
}

float* Tensor::data() const {
  LOWBIT_CHECK(impl_, "use of an undefined tensor");
  return impl_->data->data();
}

float Tensor::item() const {
  LOWBIT_CHECK(numel() == 1, "item() needs a one-element tensor, got shape ", shape().str());
  return data()[0];
}

std::vector<float> Tensor::to_vector() const {
  return std::vector<float>(data(), data() + numel());
}

bool Tensor::has_grad() const { return impl_ && impl_->grad != nullptr; }

float* Tensor::grad() const {
  LOWBIT_CHECK(impl_, "use of an undefined tensor");
  if (!impl_->grad) {
    impl_->grad = std::make_shared<Storage>(static_cast<size_t>(numel()));
    std::memset(impl_->grad->data(), 0, sizeof(float) * static_cast<size_t>(numel()));
  }
  return impl_->grad->data();
}

float* Tensor::grad_for_write(bool& fresh) const {
  LOWBIT_CHECK(impl_, "use of an undefined tensor");
  fresh = !impl_->grad;
  if (fresh) impl_->grad = std::make_shared<Storage>(static_cast<size_t>(numel()));
  return impl_->grad->data();
}

Tensor Tensor::grad_tensor() const {
  Tensor g = zeros(shape());
  if (has_grad()) std::memcpy(g.data(), impl_->grad->data(), sizeof(float) * numel());
  return g;
}

void Tensor::zero_grad() const {
  if (has_grad()) std::memset(impl_->grad->data(), 0, sizeof(float) * static_cast<size_t>(numel()));
}

void Tensor::drop_grad() const {
  if (impl_) impl_->grad.reset();
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

const Tensor& Tensor::set_requires_grad(bool value) const {
  LOWBIT_CHECK(impl_, "use of an undefined tensor");
  LOWBIT_CHECK(!impl_->node, "set_requires_grad: only leaf tensors can be marked");
  impl_->requires_grad = value;
  return *this;
}

const std::shared_ptr<Node>& Tensor::node() const {
  LOWBIT_CHECK(impl_, "use of an undefined tensor");
  return impl_->node;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape();
  impl->data = impl_->data;
  return Tensor(impl);
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape());
  std::memcpy(t.data(), data(), sizeof(float) * static_cast<size_t>(numel()));
  return t;
}

void Tensor::copy_from(const Tensor& source) const {
  LOWBIT_CHECK(source.numel() == numel(), "copy_from: source shape ", source.shape().str(),
               " does not match ", shape().str());
  std::memcpy(data(), source.data(), sizeof(float) * static_cast<size_t>(numel()));
}

void Tensor::fill(float value) const { std::fill(data(), data() + numel(), value); }

}  // namespace lowbit
