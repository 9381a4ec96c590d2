// Elementwise arithmetic on tensors of one shape, and with scalars.
#pragma once

#include "core/tensor.h"

namespace lowbit {

Tensor add(const Tensor& a, const Tensor& b);  // a + b (same shape)
Tensor sub(const Tensor& a, const Tensor& b);  // a - b
Tensor mul(const Tensor& a, const Tensor& b);  // a * b, elementwise
Tensor add_scalar(const Tensor& x, float s);   // x + s
Tensor mul_scalar(const Tensor& x, float s);   // x * s

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator+(const Tensor& x, float s) { return add_scalar(x, s); }
inline Tensor operator*(const Tensor& x, float s) { return mul_scalar(x, s); }
inline Tensor operator*(float s, const Tensor& x) { return mul_scalar(x, s); }

}  // namespace lowbit
