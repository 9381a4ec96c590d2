// The custom-gradient helper: every activation and quantizer is "a forward value and
// the slope we choose to use":
//     y[i] = value(x[i]);   dL/dx[i] += dL/dy[i] * slope(x[i])
// With slope = value' this is the ordinary derivative; with the slope of a proxy it is a
// straight-through estimator (identity for the plain STE, hardtanh' for the clipped STE).
#pragma once

#include "core/autograd.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace lowbit {

// Elementwise map of x with a chosen backward slope. `value` and `slope` are callables
// float -> float; they are copied into the backward closure, so they may carry
// parameters (levels, thresholds) by value.
template <class Value, class Slope>
Tensor custom_gradient(const Tensor& x, const char* name, Value value, Slope slope) {
  constexpr int64_t kGrain = 1 << 14;
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) py[i] = value(px[i]);
  });
  record(y, name, {x}, [x, slope](const Tensor& out) {
    const float* xs = x.data();
    const float* dy = out.grad();
    float* dx = x.grad();
    parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dx[i] += dy[i] * slope(xs[i]);
    });
  });
  return y;
}

}  // namespace lowbit
