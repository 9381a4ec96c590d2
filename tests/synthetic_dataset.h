// Small in-memory data sets for the loader and BN tests, with the pixels and labels a test asks
// for.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace lowbit::testing {

// n images of channels x height x width: pixel k (in C, H, W order) of image i is pixel(i, k), its
// label label(i).
template <class Pixel, class Label>
Dataset synthetic_dataset(const std::string& name, int64_t channels, int64_t height, int64_t width,
                          int64_t n, Pixel pixel, Label label) {
  Dataset d;
  d.name = name;
  d.channels = channels;
  d.height = height;
  d.width = width;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < channels * height * width; ++k)
      d.pixels.push_back(static_cast<uint8_t>(pixel(i, k)));
    d.labels.push_back(static_cast<int32_t>(label(i)));
  }
  return d;
}

}  // namespace lowbit::testing
