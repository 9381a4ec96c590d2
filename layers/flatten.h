// Flatten: (N, d1, d2, ...) -> (N, d1*d2*...) as a module.
#pragma once

#include "layers/module.h"
#include "layers/reshape.h"

namespace lowbit {

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return flatten(x); }
  std::string type_name() const override { return "Flatten"; }
};

}  // namespace lowbit
