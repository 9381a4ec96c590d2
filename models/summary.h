// Model summary: every leaf layer (and every Conv2d and Linear, with quantizers or not) with its
// output shape, parameter count and multiply-accumulates per image, from one traced forward pass on
// a zero image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

struct LayerSummary {
  std::string name;  // dotted path
  std::string type;
  Shape output_shape;  // for one image
  int64_t parameters = 0;
  int64_t macs = 0;
};

struct ModelSummary {
  std::vector<LayerSummary> layers;
  int64_t parameters = 0;  // trainable elements in the whole model
  int64_t macs = 0;        // per image
};

// Traces `model` on a zero input of shape (1, channels, side, side) in eval mode (its
// mode is restored afterwards).
ModelSummary summarize(Module& model, int64_t channels, int64_t side);
// The summary as an aligned text table.
std::string format_summary(const ModelSummary& summary);

}  // namespace lowbit
