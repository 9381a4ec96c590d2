// Elementwise ops with their backward:
//   add: da += dy, db += dy;  sub: da += dy, db -= dy;  mul: da += dy * b, db += dy * a
//   add_scalar: dx += dy;  mul_scalar: dx += s * dy
#include "layers/elementwise.h"

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
namespace {

constexpr int64_t kGrain = 1 << 14;

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  LOWBIT_CHECK(a.shape() == b.shape(), op, ": shapes ", a.shape().str(), " and ", b.shape().str(),
               " differ; expected equal shapes");
}

// out[i] = f(i) over all elements, in parallel.
template <class F>
void for_each_index(int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(i);
  });
}

// dst[i] += scale * src[i] when dst's tensor needs a gradient (= on a fresh buffer).
void accumulate(const Tensor& dst, const float* src, float scale) {
  if (!dst.requires_grad()) return;
  bool fresh = false;
  float* d = dst.grad_for_write(fresh);
  if (fresh) {
    for_each_index(dst.numel(), [&](int64_t i) { d[i] = scale * src[i]; });
  } else {
    for_each_index(dst.numel(), [&](int64_t i) { d[i] += scale * src[i]; });
  }
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_shape("add", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *pa = a.data(), *pb = b.data();
  float* py = y.data();
  for_each_index(y.numel(), [&](int64_t i) { py[i] = pa[i] + pb[i]; });
  record(y, "add", {a, b}, [a, b](const Tensor& out) {
    accumulate(a, out.grad(), 1.0f);
    accumulate(b, out.grad(), 1.0f);
  });
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_same_shape("sub", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *pa = a.data(), *pb = b.data();
  float* py = y.data();
  for_each_index(y.numel(), [&](int64_t i) { py[i] = pa[i] - pb[i]; });
  record(y, "sub", {a, b}, [a, b](const Tensor& out) {
    accumulate(a, out.grad(), 1.0f);
    accumulate(b, out.grad(), -1.0f);
  });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_same_shape("mul", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *pa = a.data(), *pb = b.data();
  float* py = y.data();
  for_each_index(y.numel(), [&](int64_t i) { py[i] = pa[i] * pb[i]; });
  record(y, "mul", {a, b}, [a, b](const Tensor& out) {
    const float* dy = out.grad();
    const float *va = a.data(), *vb = b.data();
    if (a.requires_grad()) {
      float* da = a.grad();
      for_each_index(a.numel(), [&](int64_t i) { da[i] += dy[i] * vb[i]; });
    }
    if (b.requires_grad()) {
      float* db = b.grad();
      for_each_index(b.numel(), [&](int64_t i) { db[i] += dy[i] * va[i]; });
    }
  });
  return y;
}

Tensor add_scalar(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  for_each_index(y.numel(), [&](int64_t i) { py[i] = px[i] + s; });
  record(y, "add_scalar", {x}, [x](const Tensor& out) { accumulate(x, out.grad(), 1.0f); });
  return y;
}

Tensor mul_scalar(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  for_each_index(y.numel(), [&](int64_t i) { py[i] = px[i] * s; });
  record(y, "mul_scalar", {x}, [x, s](const Tensor& out) { accumulate(x, out.grad(), s); });
  return y;
}

}  // namespace lowbit
