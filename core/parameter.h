// Parameter: a named trainable tensor with a role, so that optimizers (which depend on
// core only) can treat weights, biases and normalization parameters differently.
#pragma once

#include <string>

#include "core/tensor.h"

namespace lowbit {

enum class ParamRole { kWeight, kBias, kNormScale, kNormShift };

const char* role_name(ParamRole role);

struct Parameter {
  std::string name;  // dotted path in the module tree, e.g. "layer1.0.conv1.weight"
  ParamRole role;
  Tensor tensor;     // a leaf with requires_grad
};

}  // namespace lowbit
