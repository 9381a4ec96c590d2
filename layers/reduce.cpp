// Reductions with their backward: d(sum)/dx = 1, d(mean)/dx = 1/n, broadcast back.
// Whole-tensor sums accumulate in double so that large tensors lose no precision.
#include "layers/reduce.h"

#include <vector>

#include "core/autograd.h"
#include "core/check.h"

namespace lowbit {
namespace {

Tensor scaled_total(const Tensor& x, double scale, const char* name) {
  double total = 0.0;
  const float* p = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) total += p[i];
  Tensor y = Tensor::full(Shape{}, static_cast<float>(total * scale));
  record(y, name, {x}, [x, scale](const Tensor& out) {
    const float g = static_cast<float>(out.grad()[0] * scale);
    float* dx = x.grad();
    for (int64_t i = 0; i < x.numel(); ++i) dx[i] += g;
  });
  return y;
}

// x viewed as (outer, extent, inner) around axis `dim`.
struct AxisSplit {
  int64_t outer = 1, extent = 1, inner = 1;
};

AxisSplit split_at(const Shape& shape, int dim) {
  AxisSplit s;
  for (int i = 0; i < shape.rank(); ++i) {
    if (i < dim)
      s.outer *= shape[i];
    else if (i == dim)
      s.extent = shape[i];
    else
      s.inner *= shape[i];
  }
  return s;
}

Tensor scaled_axis_sum(const Tensor& x, int dim, bool average, const char* name) {
  const int rank = x.rank();
  const int d = dim < 0 ? dim + rank : dim;
  LOWBIT_CHECK(d >= 0 && d < rank, name, ": axis ", dim, " is out of range for shape ",
               x.shape().str());
  const AxisSplit s = split_at(x.shape(), d);
  const float scale = average ? 1.0f / static_cast<float>(s.extent) : 1.0f;
  std::vector<int64_t> dims = x.shape().dims();
  dims.erase(dims.begin() + d);
  Tensor y = Tensor::zeros(Shape(dims));
  const float* px = x.data();
  float* py = y.data();
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t e = 0; e < s.extent; ++e)
      for (int64_t i = 0; i < s.inner; ++i)
        py[o * s.inner + i] += scale * px[(o * s.extent + e) * s.inner + i];
  record(y, name, {x}, [x, s, scale](const Tensor& out) {
    const float* dy = out.grad();
    float* dx = x.grad();
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t e = 0; e < s.extent; ++e)
        for (int64_t i = 0; i < s.inner; ++i)
          dx[(o * s.extent + e) * s.inner + i] += scale * dy[o * s.inner + i];
  });
  return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return scaled_total(x, 1.0, "sum"); }

Tensor mean(const Tensor& x) {
  LOWBIT_CHECK(x.numel() > 0, "mean: empty tensor of shape ", x.shape().str());
  return scaled_total(x, 1.0 / static_cast<double>(x.numel()), "mean");
}

Tensor sum(const Tensor& x, int dim) { return scaled_axis_sum(x, dim, false, "sum"); }

Tensor mean(const Tensor& x, int dim) { return scaled_axis_sum(x, dim, true, "mean"); }

}  // namespace lowbit
