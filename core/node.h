// Node: one recorded op of the autograd graph. It holds the op's name, its inputs and a
// backward function that receives the output tensor (capturing the output in its own
// closure would make a reference cycle). Backward functions always *add* into the input
// gradients, because one tensor may feed several consumers (a residual connection).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lowbit {

using BackwardFn = std::function<void(const Tensor& out)>;

struct Node {
  std::string name;
  std::vector<Tensor> inputs;
  BackwardFn backward;
};

}  // namespace lowbit
