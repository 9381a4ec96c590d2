// NamedTensor: a tensor with its dotted name (buffers, optimizer state, checkpoints).
#pragma once

#include <string>

#include "core/tensor.h"

namespace lowbit {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

}  // namespace lowbit
