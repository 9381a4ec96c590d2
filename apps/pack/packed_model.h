// A checkpoint as a runtime program (core/runtime/program.h) with what a user's program needs
// beside its operations: input shape, class names, normalization, and metadata saying where it
// came from. lowbit-pack writes it as a .lbm file. Two kinds of checkpoint pack: lowbit-quantize's
// (uniform codes, apps/fat) and lowbit-train's power-of-two networks (--weights pow2 --act pow2,
// apps/pack/pow2_checkpoint.cpp).
#pragma once

#include <memory>
#include <string>

#include "apps/train/train_config.h"
#include "core/runtime/program.h"
#include "layers/module.h"
#include "models/transforms/integer_model.h"

namespace lowbit {

struct PackedModel {
  runtime::Program program;
  std::shared_ptr<Module> model;          // the model the program was compiled from
  std::shared_ptr<IntegerModel> integer;  // its integer-only form: the program's logits exactly
  std::string summary;  // "resnet20 on cifar10, 4-bit vector symmetric (lowbit-quantize)"
  // The model's parameters and buffers as float32, raw and xz-compressed (apps/ptq/ptq_size.h).
  int64_t float_bytes = 0, float_xz_bytes = 0;
};

// A lowbit-quantize checkpoint or a lowbit-train checkpoint of a power-of-two network, whichever
// `checkpoint` is. Throws lowbit::Error naming the checkpoint when it is neither (a float network,
// power-of-two weights with float activations), or names the layer the integer compiler refuses.
PackedModel pack_checkpoint(const std::string& checkpoint);
PackedModel pack_quantized_checkpoint(const std::string& checkpoint);
PackedModel pack_pow2_checkpoint(const std::string& checkpoint);

// Fills in what pack_*_checkpoint share: the compiled program of packed.integer, its input shape,
// class names and normalization for the run's data set, and the float model's sizes.
void finish_packed_model(const TrainConfig& train, PackedModel& packed);

}  // namespace lowbit
