// ModelOptions: what a data set decides about a model (input channels, image side,
// class count) plus the width multiplier of MobileNet-v2.
#pragma once

#include <cstdint>

namespace lowbit {

struct ModelOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t image_size = 32;  // square input side
  float width_multiplier = 1.0f;
};

}  // namespace lowbit
