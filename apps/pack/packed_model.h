// A lowbit-quantize checkpoint as a runtime program (core/runtime/program.h) with what a user's
// program needs beside its operations: input shape, class names, normalization, and metadata
// saying where it came from. lowbit-pack writes it as a .lbm file.
#pragma once

#include <memory>
#include <string>

#include "core/runtime/program.h"
#include "layers/module.h"

namespace lowbit {

struct PackedModel {
  runtime::Program program;
  std::shared_ptr<Module> model;  // the quantized model the program was compiled from
  std::string summary;            // "resnet20 on cifar10, 4-bit vector symmetric (lowbit-quantize)"
  // The model's parameters and buffers as float32, raw and xz-compressed (apps/ptq/ptq_size.h).
  int64_t float_bytes = 0, float_xz_bytes = 0;
};

// Throws lowbit::Error naming the checkpoint when it is not a lowbit-quantize checkpoint, or names
// the layer the integer compiler refuses.
PackedModel pack_quantized_checkpoint(const std::string& checkpoint);

}  // namespace lowbit
