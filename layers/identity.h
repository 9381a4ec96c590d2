// Identity: y = x as a module, for the place of a module a transformation removed (BN folding
// replaces each folded BatchNorm by one). It returns its input tensor itself, so it adds no node
// to the graph and no work; tracers that follow tensors from module to module skip it.
#pragma once

#include "layers/module.h"

namespace lowbit {

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

}  // namespace lowbit
