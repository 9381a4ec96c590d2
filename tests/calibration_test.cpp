// Calibration (FAT eq. 2, 6): the thresholds attached to every layer are max|x| of its float inputs
// over the calibration batches and max|W| per tensor or output channel; inputs after ReLU get an
// unsigned quantizer; a BN-folded ResNet-20 quantized naively at 8 bits stays close to its float
// outputs, at 4 bits further away.
#include "models/transforms/calibration.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/losses.h"
#include "layers/sequential.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/transforms/bn_folding.h"
#include "optim/adam.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using lowbit::testing::eval_no_grad;
using lowbit::testing::random_tensor;

namespace {

float max_abs(const Tensor& t) {
  float m = 0.0f;
  for (float v : t.to_vector()) m = std::max(m, std::fabs(v));
  return m;
}

// sqrt(mean (a - b)^2) / sqrt(mean b^2)
double relative_rms(const Tensor& a, const Tensor& b) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = static_cast<double>(a.data()[i]) - b.data()[i];
    num += d * d;
    den += static_cast<double>(b.data()[i]) * b.data()[i];
  }
  return std::sqrt(num / den);
}

std::shared_ptr<Sequential> small_net(Rng& rng) {
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(1, 2, 3, Conv2dOptions{1, 1, 1}, true, rng))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Linear>(2 * 4 * 4, 3, true, rng));
  return net;
}

}  // namespace

TEST_CASE("calibration: T_max of inputs and weights, signedness from the data", "[calibration]") {
  Rng rng(1);
  auto net = small_net(rng);
  const std::vector<Tensor> batches{random_tensor({2, 1, 4, 4}, rng, -0.5f, 0.5f),
                                    random_tensor({3, 1, 4, 4}, rng, -2.0f, 1.0f)};
  // The float inputs of the linear layer: the ReLU outputs, flattened.
  float fc_input_max = 0.0f;
  for (const Tensor& b : batches) {
    NoGradGuard no_grad;
    fc_input_max = std::max(fc_input_max, max_abs(relu((*net)[0](b))));
  }
  const float conv_input_max = std::max(max_abs(batches[0]), max_abs(batches[1]));
  auto& conv = dynamic_cast<Conv2d&>((*net)[0]);
  auto& fc = dynamic_cast<Linear&>((*net)[3]);
  const std::vector<float> w = conv.weight().to_vector();
  const float w0 = std::fabs(*std::max_element(
      w.begin(), w.begin() + 9, [](float a, float b) { return std::fabs(a) < std::fabs(b); }));
  const float w1 = std::fabs(*std::max_element(
      w.begin() + 9, w.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); }));

  const std::vector<CalibratedLayer> layers = attach_calibrated_quantizers(*net, batches);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].name == "0");
  CHECK(layers[1].name == "3");
  CHECK(conv.weight_quantizer() == layers[0].weight);
  CHECK(fc.input_quantizer() == layers[1].input);
  CHECK(layers[0].input->spec().is_signed);        // the image has negative values: eq. 8
  CHECK_FALSE(layers[1].input->spec().is_signed);  // after ReLU: eq. 9
  CHECK(layers[0].input->upper_limits() == std::vector<float>{conv_input_max});
  CHECK(layers[1].input->upper_limits() == std::vector<float>{fc_input_max});
  CHECK(layers[0].weight->upper_limits() ==
        std::vector<float>{w0, w1});  // per output channel (default)
  CHECK(layers[1].weight->channels() == 3);
  for (const CalibratedLayer& l : layers) {
    CHECK(l.weight->alpha().to_vector() ==
          std::vector<float>(static_cast<size_t>(l.weight->channels()), 1.0f));
  }
  std::vector<std::string> names;
  for (const Parameter& p : net->parameters())
    if (p.role == ParamRole::kQuantScale) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"0.weight_quantizer.alpha", "0.input_quantizer.alpha",
                                          "3.weight_quantizer.alpha", "3.input_quantizer.alpha"});
  // The naive max-threshold model runs and the calibrated maximum input lands on the top code.
  CHECK_NOTHROW(eval_no_grad(*net, batches[1]));
}

TEST_CASE("calibration: asymmetric limits per tensor and per channel", "[calibration]") {
  Rng rng(2);
  auto net = small_net(rng);
  const Tensor batch = random_tensor({2, 1, 4, 4}, rng, -0.25f, 2.0f);
  batch.data()[5] = -0.375f;  // the minimum, so the input is signed
  UniformQuantizationOptions o;
  o.thresholds = Thresholds::kAsymmetric;
  o.weight_granularity = Granularity::kScalar;
  o.input_granularity = Granularity::kVector;
  const std::vector<CalibratedLayer> layers = attach_calibrated_quantizers(*net, {batch}, o);
  const std::vector<float> x = batch.to_vector();
  CHECK(layers[0].input->spec().is_signed);
  CHECK(layers[0].input->lower_limits() == std::vector<float>{-0.375f});
  // The upper limit is L + 1 * (T_r - T_l), exact up to one float rounding.
  CHECK(layers[0].input->upper_limits()[0] ==
        Approx(*std::max_element(x.begin(), x.end())).epsilon(1e-6));
  CHECK(layers[1].input->channels() == 32);  // per input feature of the linear layer
  for (float l : layers[1].input->lower_limits()) CHECK(l == 0.0f);
  const std::vector<float> w = dynamic_cast<Linear&>((*net)[3]).weight().to_vector();
  CHECK(layers[1].weight->lower_limits() ==
        std::vector<float>{std::min(0.0f, *std::min_element(w.begin(), w.end()))});
  CHECK(layers[1].weight->upper_limits()[0] ==
        Approx(std::max(0.0f, *std::max_element(w.begin(), w.end()))).epsilon(1e-6));
}

TEST_CASE(
    "calibration: a folded ResNet-20 quantized naively stays near its float outputs at 8 bits",
    "[calibration]") {
  Rng rng(3);
  ModelOptions options;
  auto make = [&] {
    Rng same(3);
    auto m = make_model("resnet20", options, same);
    for_each_module(*m, [](Module& mod) {
      if (auto* bn = dynamic_cast<BatchNorm*>(&mod)) {
        Rng stats(static_cast<uint64_t>(bn->channels()));
        for (int64_t c = 0; c < bn->channels(); ++c) {
          bn->running_mean().data()[c] = stats.uniform(-0.2f, 0.2f);
          bn->running_var().data()[c] = stats.uniform(0.5f, 2.0f);
        }
      }
    });
    return m;
  };
  const std::vector<Tensor> batches{random_tensor({4, 3, 32, 32}, rng),
                                    random_tensor({4, 3, 32, 32}, rng)};
  const Tensor test = random_tensor({4, 3, 32, 32}, rng);
  auto reference = make();
  const Tensor expected = eval_no_grad(*reference, test);
  double error[2];
  int k = 0;
  for (int bits : {8, 4}) {
    auto model = make();
    fold_batch_norms(*model, batches[0]);
    UniformQuantizationOptions o;
    o.weight_bits = o.input_bits = bits;
    const std::vector<CalibratedLayer> layers = attach_calibrated_quantizers(*model, batches, o);
    CHECK(layers.size() == 20);  // 19 convolutions and the classifier
    error[k++] = relative_rms(eval_no_grad(*model, test), expected);
  }
  INFO("relative RMS error of the logits: 8 bits " << error[0] << ", 4 bits " << error[1]);
  CHECK(error[0] < 0.05);
  CHECK(error[1] > 2 * error[0]);
}

TEST_CASE(
    "calibration: the alphas train, and fine-tuning on the RMSE to the float logits (eq. 25) "
    "lowers it",
    "[calibration]") {
  // The FAT loop in small: a folded ResNet-20 with naive 4-bit quantizers, only the threshold
  // scales trained (Adam), on the RMSE between float and quantized logits, no labels.
  Rng rng(5);
  ModelOptions options;
  auto model = make_model("resnet20", options, rng);
  for_each_module(*model, [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&m))
      for (int64_t c = 0; c < bn->channels(); ++c)
        bn->running_var().data()[c] = rng.uniform(0.5f, 2.0f);
  });
  const Tensor train = random_tensor({8, 3, 32, 32}, rng),
               held_out = random_tensor({8, 3, 32, 32}, rng);
  fold_batch_norms(*model, train);
  const Tensor train_target = eval_no_grad(*model, train),
               held_out_target = eval_no_grad(*model, held_out);
  UniformQuantizationOptions o;
  o.weight_bits = o.input_bits = 4;
  attach_calibrated_quantizers(*model, {train}, o);
  std::vector<Parameter> scales;
  for (const Parameter& p : model->parameters()) {
    if (p.role == ParamRole::kQuantScale) {
      scales.push_back(p);
    } else {
      p.tensor.set_requires_grad(false);  // the network stays fixed (section 3.1.3)
    }
  }
  auto rmse = [&](const Tensor& x, const Tensor& target) {
    NoGradGuard no_grad;
    return rmse_loss((*model)(x), target).item();
  };
  const float before = rmse(held_out, held_out_target);
  Adam adam(scales, AdamOptions{0.01f});
  for (int step = 0; step < 20; ++step) {
    for (const Parameter& p : scales) p.tensor.zero_grad();
    backward(rmse_loss((*model)(train), train_target));
    adam.step();
    for_each_module(*model, [](Module& m) {
      if (auto* q = dynamic_cast<UniformQuantizer*>(&m)) q->project_alphas();
    });
  }
  const float after = rmse(held_out, held_out_target);
  INFO("held-out RMSE of the 4-bit logits: " << before << " -> " << after);
  CHECK(after < 0.8f * before);
  bool moved = false;
  for (const Parameter& p : scales)
    for (float a : p.tensor.to_vector()) moved = moved || a != 1.0f;
  CHECK(moved);
}

TEST_CASE("calibration: errors", "[calibration]") {
  Rng rng(4);
  auto net = small_net(rng);
  CHECK_THROWS_WITH(attach_calibrated_quantizers(*net, {}),
                    Catch::Contains("no calibration batches"));
  attach_calibrated_quantizers(*net, {random_tensor({1, 1, 4, 4}, rng)});
  CHECK_THROWS_WITH(attach_calibrated_quantizers(*net, {random_tensor({1, 1, 4, 4}, rng)}),
                    Catch::Contains("layer '0' has a quantizer already"));
  // A layer registered but never called.
  auto idle = std::make_shared<Linear>(2, 2, true, rng);
  struct Holder : Module {
    std::shared_ptr<Linear> fc;
    explicit Holder(std::shared_ptr<Linear> l) { fc = register_module("fc", l); }
    Tensor forward(const Tensor& x) override { return x; }
    std::string type_name() const override { return "Holder"; }
  };
  Holder h(idle);
  CHECK_THROWS_WITH(attach_calibrated_quantizers(h, {random_tensor({1, 2}, rng)}),
                    Catch::Contains("layer 'fc' was not called"));
}
