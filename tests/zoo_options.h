// The options the tests build a zoo model with (models/model_zoo.h): lenet5 on MNIST's 1x28x28
// images, every other model at the defaults (3x32x32, CIFAR's).
#pragma once

#include <string>

#include "models/model_options.h"

namespace lowbit::testing {

inline ModelOptions zoo_options(const std::string& model) {
  ModelOptions o;
  if (model == "lenet5") {
    o.in_channels = 1;
    o.image_size = 28;
  }
  return o;
}

}  // namespace lowbit::testing
