// Activation values and slopes. All three are clipping functions whose slope is an
// indicator, "a forward value and the slope we choose to use":
//     y[i] = value(x[i]);   dL/dx[i] += [pass(x[i])] * dL/dy[i]
// written here as a select rather than through custom_gradient's multiply, so that both
// loops vectorize (the multiply by a 0/1 slope compiled to a branch per element).
#include "layers/activations.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
namespace {

constexpr int64_t kGrain = 1 << 14;

template <class Value, class Pass>
Tensor gated(const Tensor& x, const char* name, Value value, Pass pass) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const float* __restrict in = px;
    float* __restrict out = py;
    for (int64_t i = begin; i < end; ++i) out[i] = value(in[i]);
  });
  record(y, name, {x}, [x, pass](const Tensor& out) {
    const float* xs = x.data();
    const float* dy = out.grad();
    bool fresh = false;
    float* dx = x.grad_for_write(fresh);
    parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      const float* __restrict v = xs;
      const float* __restrict d = dy;
      float* __restrict g = dx;
      if (fresh) {
        for (int64_t i = begin; i < end; ++i) g[i] = pass(v[i]) ? d[i] : 0.0f;
      } else {
        for (int64_t i = begin; i < end; ++i) g[i] += pass(v[i]) ? d[i] : 0.0f;
      }
    });
  });
  return y;
}

}  // namespace

Tensor relu(const Tensor& x) {
  return gated(
      x, "relu", [](float v) { return v > 0.0f ? v : 0.0f; }, [](float v) { return v > 0.0f; });
}

Tensor relu6(const Tensor& x) {
  return gated(
      x, "relu6", [](float v) { return std::min(std::max(v, 0.0f), 6.0f); },
      [](float v) { return v > 0.0f && v < 6.0f; });
}

Tensor hardtanh(const Tensor& x, float lo, float hi) {
  LOWBIT_CHECK(lo < hi, "hardtanh: min ", lo, " must be below max ", hi);
  return gated(
      x, "hardtanh", [lo, hi](float v) { return std::min(std::max(v, lo), hi); },
      [lo, hi](float v) { return v > lo && v < hi; });
}

Hardtanh::Hardtanh(float min_value, float max_value) : min_(min_value), max_(max_value) {
  LOWBIT_CHECK(min_value < max_value, "Hardtanh: min ", min_value, " must be below max ", max_value);
}

}  // namespace lowbit
