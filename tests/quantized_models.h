// Zoo models quantized as lowbit-quantize quantizes them, for the tests of integer-only inference
// (tests/integer_model_test.cpp) and of the runtime (tests/runtime_engine_test.cpp): BN folded
// with running statistics moved off their start, calibrated uniform quantizers, trained scales
// moved as fine-tuning would move them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/pooling.h"
#include "layers/reshape.h"
#include "models/graph_model.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/dws_rescaling.h"
#include "tests/gradcheck.h"

namespace lowbit::testing {

// Moves every trained scale away from its start, as fine-tuning would, inside its clip range, so
// that thresholds clip and point-wise factors move weights across rounding boundaries.
inline void perturb_scales(Module& model, Rng& rng) {
  for (const Parameter& p : model.parameters()) {
    if (p.role != ParamRole::kQuantScale) continue;
    const std::string& name = p.name;
    const bool left = name.size() >= 10 && name.compare(name.size() - 10, 10, "alpha_left") == 0;
    const bool pointwise = name.size() >= 5 && name.compare(name.size() - 5, 5, "scale") == 0;
    for (int64_t i = 0; i < p.tensor.numel(); ++i)
      p.tensor.data()[i] = left        ? rng.uniform(0.0f, 0.1f)
                           : pointwise ? rng.uniform(0.8f, 1.2f)
                                       : rng.uniform(0.7f, 1.0f);
  }
}

// Running statistics away from their start (variances in [0.5, 2], means in [-0.2, 0.2]), so that
// evaluation and folding see batch norms that do something.
inline void move_batch_norm_statistics(Module& model, Rng& rng) {
  for_each_module(model, [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&m))
      for (int64_t k = 0; k < bn->channels(); ++k) {
        bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
        bn->running_mean().data()[k] = rng.uniform(-0.2f, 0.2f);
      }
  });
}

struct QuantizedCase {
  const char* model;
  int64_t channels, side;
  int bits;
  Thresholds thresholds;
  Granularity weights;
  bool pointwise, rescale;
};

// Every zoo family, at 8 bits and at 4, symmetric and asymmetric, per tensor and per channel, with
// point-wise weight scales and depthwise rescaling.
inline std::vector<QuantizedCase> quantized_zoo_cases() {
  return {{"lenet5", 1, 28, 8, Thresholds::kSymmetric, Granularity::kVector, false, false},
          {"lenet5", 1, 28, 4, Thresholds::kAsymmetric, Granularity::kScalar, true, false},
          {"resnet20", 3, 32, 8, Thresholds::kSymmetric, Granularity::kVector, true, false},
          {"resnet20", 3, 32, 8, Thresholds::kAsymmetric, Granularity::kVector, false, false},
          {"vgg7", 3, 32, 8, Thresholds::kSymmetric, Granularity::kScalar, false, false},
          {"mobilenetv2", 3, 32, 8, Thresholds::kAsymmetric, Granularity::kVector, false, true},
          {"resnet50", 3, 32, 8, Thresholds::kSymmetric, Granularity::kVector, false, false}};
}

// The zoo model of `c` at width 0.5, folded, calibrated on `images` (n, channels, side, side) and
// perturbed, in evaluation mode.
inline std::shared_ptr<Module> quantized_zoo_model(const QuantizedCase& c, const Tensor& images,
                                                   Rng& rng) {
  ModelOptions options;
  options.in_channels = c.channels;
  options.image_size = c.side;
  options.width_multiplier = 0.5f;
  std::shared_ptr<Module> model = make_model(c.model, options, rng);
  move_batch_norm_statistics(*model, rng);
  model->eval();
  fold_batch_norms(*model, images);
  if (c.rescale) rescale_depthwise_separable(*model, {images});
  UniformQuantizationOptions q;
  q.weight_bits = q.input_bits = c.bits;
  q.thresholds = c.thresholds;
  q.weight_granularity = c.weights;
  q.pointwise_weight_scales = c.pointwise;
  attach_calibrated_quantizers(*model, {images}, q);
  perturb_scales(*model, rng);
  return model;
}

// The form models/onnx gives a network, quantized at 8 bits: conv branches joined by a sum and a
// concatenation (along `concat_axis` of (N, C, H, W)), global pooling reshaped to (N, C, 1, 1) as
// ONNX keeps it, then flattened by a Reshape, and a linear layer of 5 outputs. `images` gets the 16
// calibration images (16, 3, 8, 8).
inline std::shared_ptr<GraphModel> quantized_graph_model(Rng& rng, Tensor& images,
                                                         int concat_axis = 1) {
  auto g = std::make_shared<GraphModel>();
  const auto a = g->add_module(
      "a", std::make_shared<Conv2d>(3, 4, 3, Conv2dOptions{1, 1}, true, rng), GraphModel::kInput);
  const auto a_relu = g->add_module("a_relu", std::make_shared<ReLU>(), a);
  const auto b = g->add_module("b", std::make_shared<Conv2d>(3, 4, 1, Conv2dOptions{}, true, rng),
                               GraphModel::kInput);
  const auto sum = g->add_sum(a_relu, b);
  const auto joined = g->add_concat({sum, a_relu}, concat_axis);
  const auto pooled = g->add_module("pool", std::make_shared<GlobalAvgPool>(), joined);
  const auto nchw =
      g->add_module("nchw", std::make_shared<Reshape>(std::vector<int64_t>{0, 0, 1, 1}), pooled);
  const auto flat =
      g->add_module("flat", std::make_shared<Reshape>(std::vector<int64_t>{0, -1}), nchw);
  const int64_t features = concat_axis == 1 ? 8 : 4;
  g->add_module("fc", std::make_shared<Linear>(features, 5, true, rng), flat);
  images = random_tensor({16, 3, 8, 8}, rng, -2.0f, 2.0f);
  g->eval();
  UniformQuantizationOptions q;
  q.weight_bits = q.input_bits = 8;
  q.weight_granularity = Granularity::kVector;
  attach_calibrated_quantizers(*g, {images}, q);
  perturb_scales(*g, rng);
  return g;
}

}  // namespace lowbit::testing
