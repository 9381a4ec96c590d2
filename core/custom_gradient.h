// The custom-gradient helpers: every elementwise activation and quantizer is "a forward value
// and the slope we choose to use":
//     y[i] = value(x[i]);   dL/dx[i] += dL/dy[i] * slope(x[i])
// With slope = value' this is the ordinary derivative; with the slope of a proxy it is a
// straight-through estimator (identity for the plain STE, hardtanh' for the clipped STE).
//
// Two forms, both written the way the fast kernels are: __restrict pointers, and the first
// gradient into x assigned rather than added (Tensor::grad_for_write), which saves a zero fill and
// a read of the buffer.
//   custom_gradient: any slope.
//   gated_gradient:  a slope of 0 or 1 given as a predicate `pass`, applied as a select. The
//                    clipping activations (ReLU, ReLU6, hardtanh) and clipped STEs are this; a
//                    multiply by a 0/1 slope that a branch computes does not vectorize, a select
//                    does.
// Ops with several constants per element (the power-of-two activation's levels) write the same
// pattern out with their own kernels (layers/quant/pow2_activation.cpp).
#pragma once

#include <cstdint>

#include "core/autograd.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace lowbit {

namespace custom_gradient_detail {

constexpr int64_t kGrain = 1 << 14;

template <class Value>
Tensor map_forward(const Tensor& x, Value value) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const float* __restrict in = px;
    float* __restrict out = py;
    for (int64_t i = begin; i < end; ++i) out[i] = value(in[i]);
  });
  return y;
}

// dx (= or +=) contribution(x, dy) elementwise, over the graph's gradient buffers.
template <class Contribution>
void backward_into(const Tensor& x, const Tensor& out, Contribution contribution) {
  const float* xs = x.data();
  const float* dy = out.grad();
  bool fresh = false;
  float* dx = x.grad_for_write(fresh);
  parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const float* __restrict v = xs;
    const float* __restrict d = dy;
    float* __restrict g = dx;
    if (fresh) {
      for (int64_t i = begin; i < end; ++i) g[i] = contribution(v[i], d[i]);
    } else {
      for (int64_t i = begin; i < end; ++i) g[i] += contribution(v[i], d[i]);
    }
  });
}

}  // namespace custom_gradient_detail

// Elementwise map of x with a chosen backward slope. `value` and `slope` are callables
// float -> float; they are copied into the backward closure, so they may carry parameters
// (levels, thresholds) by value.
template <class Value, class Slope>
Tensor custom_gradient(const Tensor& x, const char* name, Value value, Slope slope) {
  Tensor y = custom_gradient_detail::map_forward(x, value);
  record(y, name, {x}, [x, slope](const Tensor& out) {
    custom_gradient_detail::backward_into(x, out,
                                          [slope](float v, float d) { return d * slope(v); });
  });
  return y;
}

// The same with a slope of 1 where pass(x) holds and 0 elsewhere (`pass`: float -> bool).
template <class Value, class Pass>
Tensor gated_gradient(const Tensor& x, const char* name, Value value, Pass pass) {
  Tensor y = custom_gradient_detail::map_forward(x, value);
  record(y, name, {x}, [x, pass](const Tensor& out) {
    custom_gradient_detail::backward_into(x, out,
                                          [pass](float v, float d) { return pass(v) ? d : 0.0f; });
  });
  return y;
}

}  // namespace lowbit
