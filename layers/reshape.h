// Reshape and flatten: new shapes over the same storage (no copy).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace lowbit {

// One dimension may be -1 and is inferred from the element count.
Tensor reshape(const Tensor& x, std::vector<int64_t> dims);
// (N, d1, d2, ...) -> (N, d1 * d2 * ...).
Tensor flatten(const Tensor& x);

}  // namespace lowbit
