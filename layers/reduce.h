// Reductions: the sum and the mean of all elements (scalar results), and of one axis.
#pragma once

#include "core/tensor.h"

namespace lowbit {

Tensor sum(const Tensor& x);   // shape ()
Tensor mean(const Tensor& x);  // shape ()
// Sum / mean over axis `dim`, which is removed from the shape.
Tensor sum(const Tensor& x, int dim);
Tensor mean(const Tensor& x, int dim);

}  // namespace lowbit
