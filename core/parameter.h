// Parameter: a named trainable tensor with a role, so that optimizers (which depend on
// core only) can treat weights, biases, normalization parameters and quantizer threshold
// scales differently.
#pragma once

#include <string>

#include "core/tensor.h"

namespace lowbit {

// kQuantScale: a quantizer's trained threshold scale (alpha of FAT eq. 12, 22-23), a few
// values per layer that fine-tuning trains while the weights stay fixed.
enum class ParamRole { kWeight, kBias, kNormScale, kNormShift, kQuantScale };

const char* role_name(ParamRole role);

struct Parameter {
  std::string name;  // dotted path in the module tree, e.g. "layer1.0.conv1.weight"
  ParamRole role;
  Tensor tensor;  // a leaf with requires_grad
};

}  // namespace lowbit
