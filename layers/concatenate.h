// Concatenation along one axis, with its backward (each input gets its slice of dy): the join an
// imported ONNX graph uses for its Concat nodes.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace lowbit {

// xs: tensors of equal rank whose shapes agree except along `axis` (negative counts from the end).
// y: their concatenation along `axis`; dx_k += the slice of dy that x_k filled.
Tensor concatenate(const std::vector<Tensor>& xs, int axis);

}  // namespace lowbit
