// reshape: the output shares x's storage; its gradient is dy with x's shape.
#include "layers/reshape.h"

#include <cstring>
#include <memory>

#include "core/autograd.h"
#include "core/check.h"

namespace lowbit {

Tensor reshape(const Tensor& x, std::vector<int64_t> dims) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      LOWBIT_CHECK(infer < 0, "reshape: more than one -1 in the target shape");
      infer = static_cast<int>(i);
    } else {
      LOWBIT_CHECK(dims[i] >= 0, "reshape: dimension ", dims[i], " is negative");
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    LOWBIT_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 for ", x.numel(),
                 " elements from shape ", x.shape().str());
    dims[static_cast<size_t>(infer)] = x.numel() / known;
  }
  const Shape shape(dims);
  LOWBIT_CHECK(shape.numel() == x.numel(), "reshape: cannot view shape ", x.shape().str(), " as ",
               shape.str(), " (", x.numel(), " vs ", shape.numel(), " elements)");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->data = x.impl()->data;
  Tensor y(impl);
  record(y, "reshape", {x}, [x](const Tensor& out) {
    const float* dy = out.grad();
    bool fresh = false;
    float* dx = x.grad_for_write(fresh);
    const int64_t n = x.numel();
    if (fresh) {
      std::memcpy(dx, dy, sizeof(float) * static_cast<size_t>(n));
    } else {
      for (int64_t i = 0; i < n; ++i) dx[i] += dy[i];
    }
  });
  return y;
}

Tensor flatten(const Tensor& x) {
  LOWBIT_CHECK(x.rank() >= 1, "flatten: needs at least one dimension, got shape ", x.shape().str());
  return reshape(x, {x.size(0), -1});
}

Tensor Reshape::forward(const Tensor& x) {
  std::vector<int64_t> dims = dims_;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] != 0) continue;
    LOWBIT_CHECK(static_cast<int>(i) < x.rank(), "Reshape: a 0 (keep) at dimension ", i, " of ",
                 dims.size(), " for an input of shape ", x.shape().str(),
                 "; expected a dimension the input has");
    dims[i] = x.size(static_cast<int>(i));
  }
  return reshape(x, dims);
}

}  // namespace lowbit
