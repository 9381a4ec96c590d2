// Zoo models for the runtime's benchmarks (runtime_bench, peak_memory): random weights and BN
// statistics, since neither speed nor memory depends on them; kept float (BN kept, as lowbit-eval
// runs a lowbit-train checkpoint) or quantized as lowbit-quantize leaves them (BN folded,
// calibrated uniform quantizers), with random images of the model's input.
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include "core/rng.h"
#include "layers/batch_norm.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/integer_model.h"

namespace lowbit::bench {

// The zoo model `name` in evaluation, the same weights and statistics on every call.
inline std::shared_ptr<Module> random_zoo_model(const std::string& name) {
  ModelOptions options;
  if (name == "lenet5") {
    options.in_channels = 1;
    options.image_size = 28;
  }
  Rng rng(1);
  std::shared_ptr<Module> m = make_model(name, options, rng);
  for_each_module(*m, [&](Module& module) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&module))
      for (int64_t k = 0; k < bn->channels(); ++k)
        bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
  });
  m->eval();
  return m;
}

// random_zoo_model(name) quantized to `bits` (weights and inputs), calibrated on `calibration`.
inline std::unique_ptr<IntegerModel> quantized_zoo_model(const std::string& name, int bits,
                                                         const Tensor& calibration) {
  std::shared_ptr<Module> quantized = random_zoo_model(name);
  fold_batch_norms(*quantized, calibration);
  UniformQuantizationOptions q;
  q.weight_bits = q.input_bits = bits;
  attach_calibrated_quantizers(*quantized, {calibration}, q);
  return std::make_unique<IntegerModel>(*quantized);
}

// Random images of the model's input (LeNet-5: 28x28 digits, else 32x32 in color) in
// [low, high): a batch and its first image alone.
struct Inputs {
  int64_t channels, side;
  Tensor images, one;
};
inline Inputs random_inputs(const std::string& name, int64_t batch, float low, float high) {
  Inputs in;
  in.channels = name == "lenet5" ? 1 : 3;
  in.side = name == "lenet5" ? 28 : 32;
  Rng rng(2);
  in.images = Tensor::empty({batch, in.channels, in.side, in.side});
  for (int64_t i = 0; i < in.images.numel(); ++i) in.images.data()[i] = rng.uniform(low, high);
  in.one = Tensor::empty({1, in.channels, in.side, in.side});
  std::copy(in.images.data(), in.images.data() + in.one.numel(), in.one.data());
  return in;
}

// The runtime's program of `integer` for `in`'s images (10 classes), as lowbit-pack writes it.
inline runtime::Program runtime_program(const IntegerModel& integer, const Inputs& in) {
  runtime::Program program = integer.program();
  program.info.input_dims = {in.channels, in.side, in.side};
  program.info.num_classes = 10;
  return program;
}

}  // namespace lowbit::bench
