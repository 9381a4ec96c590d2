// concat: y = [x_0, x_1, ...] along one axis. Viewed as (outer, inner) blocks, every input k is
// `outer` rows of width_k = size_k(axis) * inner that go to columns [offset_k, offset_k + width_k)
// of y's rows of width sum_k width_k; the backward copies the same columns of dy back.
#include "layers/concatenate.h"

#include <cstring>

#include "core/autograd.h"
#include "core/check.h"

namespace lowbit {
namespace {

struct ConcatLayout {
  int axis = 0;
  int64_t outer = 1, inner = 1, row = 0;  // row: width of one y row (sum of widths)
  std::vector<int64_t> widths, offsets;
};

ConcatLayout concat_layout(const std::vector<Tensor>& xs, int axis, Shape& y_shape) {
  LOWBIT_CHECK(!xs.empty(), "concatenate: no inputs; expected at least one tensor");
  const Shape& first = xs[0].shape();
  const int rank = first.rank();
  LOWBIT_CHECK(axis >= -rank && axis < rank, "concatenate: axis ", axis,
               " is out of range for rank ", rank, "; expected -", rank, " to ", rank - 1);
  ConcatLayout l;
  l.axis = axis < 0 ? axis + rank : axis;
  for (int d = 0; d < l.axis; ++d) l.outer *= first[d];
  for (int d = l.axis + 1; d < rank; ++d) l.inner *= first[d];
  std::vector<int64_t> dims = first.dims();
  dims[l.axis] = 0;
  for (const Tensor& x : xs) {
    bool agrees = x.rank() == rank;
    for (int d = 0; agrees && d < rank; ++d) agrees = d == l.axis || x.size(d) == first[d];
    LOWBIT_CHECK(agrees, "concatenate: shapes ", first.str(), " and ", x.shape().str(),
                 " differ outside axis ", l.axis, "; expected equal sizes there");
    l.offsets.push_back(l.row);
    l.widths.push_back(x.size(l.axis) * l.inner);
    l.row += l.widths.back();
    dims[l.axis] += x.size(l.axis);
  }
  y_shape = Shape(dims);
  return l;
}

}  // namespace

Tensor concatenate(const std::vector<Tensor>& xs, int axis) {
  Shape y_shape;
  const ConcatLayout l = concat_layout(xs, axis, y_shape);
  Tensor y = Tensor::empty(y_shape);
  float* py = y.data();
  for (size_t k = 0; k < xs.size(); ++k) {
    const float* px = xs[k].data();
    for (int64_t o = 0; o < l.outer; ++o) {
      std::memcpy(py + o * l.row + l.offsets[k], px + o * l.widths[k], l.widths[k] * sizeof(float));
    }
  }
  record(y, "concatenate", xs, [xs, l](const Tensor& out) {
    const float* dy = out.grad();
    for (size_t k = 0; k < xs.size(); ++k) {
      if (!xs[k].requires_grad()) continue;
      bool fresh = false;
      float* dx = xs[k].grad_for_write(fresh);
      for (int64_t o = 0; o < l.outer; ++o) {
        const float* src = dy + o * l.row + l.offsets[k];
        float* dst = dx + o * l.widths[k];
        if (fresh) {
          std::memcpy(dst, src, l.widths[k] * sizeof(float));
        } else {
          for (int64_t i = 0; i < l.widths[k]; ++i) dst[i] += src[i];
        }
      }
    }
  });
  return y;
}

}  // namespace lowbit
