// Tensor: a cheap handle to shared, contiguous float storage (NCHW for images), with a
// lazily allocated gradient, a requires_grad flag and the Node that produced it.
// No strides or views: reshape shares storage, every other op copies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/storage.h"

namespace lowbit {

struct Node;

struct TensorImpl {
  Shape shape;
  std::shared_ptr<Storage> data;
  std::shared_ptr<Storage> grad;  // null until a backward pass writes into it
  bool requires_grad = false;
  std::shared_ptr<Node> node;  // the op that produced this tensor; null for leaves
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialized values (pooled memory): for outputs that an op writes in full.
  static Tensor empty(const Shape& shape);
  static Tensor zeros(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
  static Tensor scalar(float value) { return full(Shape{}, value); }

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t numel() const { return shape().numel(); }
  int rank() const { return shape().rank(); }
  int64_t size(int dim) const { return shape()[dim]; }

  // A Tensor is a handle: data() of a const handle still writes the shared storage.
  float* data() const;
  float item() const;  // the value of a one-element tensor
  std::vector<float> to_vector() const;

  // Gradient: grad() allocates a zero-filled buffer on first use.
  bool has_grad() const;
  float* grad() const;
  // For a backward that writes every element of this tensor's gradient: the gradient
  // buffer, with `fresh` set when it has just been created (uninitialized). A fresh buffer
  // must be assigned (=) rather than added into (+=): that saves the zero fill and one
  // read of the buffer, the two extra passes of the first consumer's accumulation.
  float* grad_for_write(bool& fresh) const;
  Tensor grad_tensor() const;  // a copy of the gradient as a tensor (zeros if none)
  void zero_grad() const;      // sets an existing gradient to zero (keeps the buffer)
  void drop_grad() const;      // releases the gradient buffer

  bool requires_grad() const;
  // Marks a leaf as trainable; returns *this for chaining.
  const Tensor& set_requires_grad(bool value) const;

  const std::shared_ptr<Node>& node() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // Same storage, no history and no gradient.
  Tensor detach() const;
  // Deep copy of the values (no history).
  Tensor clone() const;
  // Copies the values of `source` (same element count) into this tensor's storage.
  void copy_from(const Tensor& source) const;
  void fill(float value) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace lowbit
