// The tiny task of the PTQ sweep tests: 60 images of 1x4x4 in three classes and a linear
// classifier that reads them, so that a whole sweep runs in milliseconds.
#pragma once

#include <memory>

#include "core/rng.h"
#include "data/dataset.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/sequential.h"

namespace lowbit::testing {

// 60 images of 1x4x4 in three classes: class k is bright in row k.
inline Dataset rows_dataset() {
  Dataset d;
  d.name = "rows";
  d.channels = 1, d.height = 4, d.width = 4;
  d.class_names = {"top", "middle", "bottom"};
  Rng rng(9);
  for (int i = 0; i < 60; ++i) {
    const int label = i % 3;
    d.labels.push_back(label);
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x)
        d.pixels.push_back(static_cast<uint8_t>(y == label ? 200 + rng.below(50) : rng.below(80)));
    }
  }
  return d;
}

// A linear classifier that reads the bright row, with some noise in its weights.
inline std::shared_ptr<Sequential> row_classifier() {
  Rng rng(2);
  auto fc = std::make_shared<Linear>(16, 3, true, rng);
  for (int k = 0; k < 3; ++k) {
    for (int j = 0; j < 16; ++j)
      fc->weight().data()[k * 16 + j] = (j / 4 == k ? 0.5f : 0.0f) + rng.normal(0.0f, 0.05f);
    fc->bias().data()[k] = 0.01f * static_cast<float>(k);
  }
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Flatten>()).add(fc);
  return net;
}

}  // namespace lowbit::testing
