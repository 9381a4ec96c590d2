// Integer-only inference (models/transforms/integer_model.h): fixed-point multipliers round x r to
// nearest; the int16 convolution equals the float one on integer codes; a hand-worked layer gives
// its exact integers; every zoo family quantized at 8 bits (and 4) predicts as its fake-quantized
// model does, with logits within a few grid steps; models without an integer form are refused by
// path.
#include "models/transforms/integer_model.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "apps/train/evaluate.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/kernels/integer_ops.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/quant/pointwise_scaled_quantizer.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/reshape.h"
#include "layers/sequential.h"
#include "models/graph_model.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/dws_rescaling.h"
#include "tests/gradcheck.h"
#include "tests/quantized_models.h"

using namespace lowbit;
using lowbit::kernels::FixedPointMultiplier;
using lowbit::testing::eval_no_grad;
using lowbit::testing::perturb_scales;
using lowbit::testing::random_tensor;

namespace {

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(t.data()[i])));
  return m;
}

}  // namespace

TEST_CASE("fixed-point multipliers round x times r to nearest", "[integer]") {
  Rng rng(3);
  for (double r : {1.0, 0.5, 0.3, 1.0 / 3.0, 1e-4, 2.7e-6, 123.456, 65536.0 * 0.0123}) {
    const FixedPointMultiplier f = FixedPointMultiplier::from_real(r);
    CHECK(f.multiplier >= (1 << 30));
    CHECK(std::fabs(f.real() - r) <= r * std::ldexp(1.0, -30));
    for (int i = 0; i < 2000; ++i) {
      const auto x = static_cast<int64_t>(rng.uniform(-1.0f, 1.0f) * (r > 1 ? 1e6f : 2e9f));
      const double exact = static_cast<double>(x) * f.real();
      CHECK(std::fabs(static_cast<double>(f.apply(x)) - exact) <= 0.5 + 1e-6 * std::fabs(exact));
    }
    CHECK(f.apply(0) == 0);
  }
  // Ties go up: 3 * 0.5 = 1.5 -> 2, -3 * 0.5 = -1.5 -> -1.
  CHECK(FixedPointMultiplier::from_real(0.5).apply(3) == 2);
  CHECK(FixedPointMultiplier::from_real(0.5).apply(-3) == -1);
  CHECK(FixedPointMultiplier::from_real(0.0).apply(12345) == 0);
  CHECK(FixedPointMultiplier::from_real(1e-12).apply(2000000000) == 0);
  CHECK_THROWS_WITH(FixedPointMultiplier::from_real(-1.0),
                    Catch::Contains("must be finite and >= 0"));
  CHECK_THROWS_WITH(FixedPointMultiplier::from_real(std::ldexp(1.0, 30)),
                    Catch::Contains("too large"));
}

namespace {

// Both int16 kernels on random codes of one image of geometry g equal the float convolution of the
// codes.
void require_int16_equals_float(const kernels::ConvGeometry& g, Rng& rng) {
  std::vector<int16_t> x(static_cast<size_t>(g.in_channels * g.height * g.width));
  std::vector<int16_t> w(
      static_cast<size_t>(g.out_channels * g.in_channels / g.groups * g.kernel_h * g.kernel_w));
  Tensor xf = Tensor::empty({1, g.in_channels, g.height, g.width});
  Tensor wf = Tensor::empty({g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w});
  for (size_t i = 0; i < x.size(); ++i)
    xf.data()[i] = x[i] = static_cast<int16_t>(std::lround(rng.uniform(-128.0f, 255.0f)));
  for (size_t i = 0; i < w.size(); ++i)
    wf.data()[i] = w[i] = static_cast<int16_t>(std::lround(rng.uniform(-127.0f, 127.0f)));
  const Tensor expected = conv2d(xf, wf, Tensor(), Conv2dOptions{g.stride, g.padding, g.groups});
  kernels::IntConvScratch scratch;
  for (auto* kernel : {&kernels::conv2d_int16, &kernels::conv2d_int16_portable}) {
    std::vector<int32_t> out(static_cast<size_t>(g.out_channels * g.out_height() * g.out_width()),
                             -7);
    kernel(g, x.data(), w.data(), out.data(), scratch);
    REQUIRE(expected.numel() == static_cast<int64_t>(out.size()));
    for (size_t i = 0; i < out.size(); ++i)
      REQUIRE(static_cast<double>(out[i]) == static_cast<double>(expected.data()[i]));
  }
}

}  // namespace

TEST_CASE("the int16 convolution equals the float convolution on integer codes", "[integer]") {
  Rng rng(5);
  struct Case {
    int64_t c, o, k, stride, padding, groups, h, w;
  };
  // Odd and even depths, positions that are and are not multiples of 16, 1-7 outputs per group.
  for (const Case& t :
       {Case{3, 4, 3, 1, 1, 1, 7, 6}, Case{4, 6, 3, 2, 1, 2, 9, 9}, Case{5, 5, 3, 1, 1, 5, 6, 8},
        Case{6, 6, 3, 2, 1, 6, 7, 7}, Case{8, 3, 1, 1, 0, 1, 5, 5}, Case{2, 3, 5, 1, 2, 1, 6, 6},
        Case{16, 7, 3, 1, 1, 1, 8, 8}, Case{6, 10, 1, 1, 0, 1, 4, 4}}) {
    require_int16_equals_float({1, t.c, t.h, t.w, t.o, t.k, t.k, t.stride, t.padding, t.groups},
                               rng);
  }
}

TEST_CASE("the int16 convolution takes non-square kernels and one image", "[integer]") {
  Rng rng(6);
  // (C, O, kh, kw, stride, padding, groups, H, W): a 3x1 and a 1x5 kernel, odd depths.
  for (const kernels::ConvGeometry& g : {kernels::ConvGeometry{1, 3, 7, 6, 4, 3, 1, 1, 1, 1},
                                         kernels::ConvGeometry{1, 4, 5, 9, 2, 1, 5, 2, 2, 2}})
    require_int16_equals_float(g, rng);
  kernels::ConvGeometry two_images{2, 1, 3, 3, 1, 1, 1, 1, 0, 1};
  std::vector<int16_t> x(18, 1), w(1, 1);
  std::vector<int32_t> out(18);
  kernels::IntConvScratch scratch;
  CHECK_THROWS_WITH(kernels::conv2d_int16(two_images, x.data(), w.data(), out.data(), scratch),
                    Catch::Contains("batch 2"));
}

TEST_CASE("a hand-worked quantized linear layer gives its exact integers", "[integer]") {
  // y = W x + b with x = (0.30, -0.70), W = ((0.5, 0.25)), b = 0.1. Input: symmetric signed 8-bit,
  // T = 1, step 1/127: codes round(0.3 * 127) = 38, round(-0.7 * 127) = -89. Weight: symmetric
  // 8-bit, T = 0.5, step 0.5/127: codes 127 and round(0.25 * 254) = 64 (63.5, ties to even).
  // acc = 38 * 127 - 89 * 64 = -870; in fixed point (2^-22) the output is
  // round(-870 * 0.5 / 127^2 * 2^22) + round(0.1 * 2^22) = round(-113120.605) + round(419430.4)
  // = -113121 + 419430 = 306309.
  Linear layer(2, 1, true);
  layer.weight().data()[0] = 0.5f;
  layer.weight().data()[1] = 0.25f;
  layer.bias().data()[0] = 0.1f;
  auto in = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true));
  in->set_threshold({1.0f});
  auto wq = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true));
  wq->set_threshold({0.5f});
  layer.set_input_quantizer(in);
  layer.set_weight_quantizer(wq);
  IntegerModel integer(layer);
  const Tensor y = integer.forward(Tensor::from_vector({1, 2}, {0.3f, -0.7f}));
  static_assert(kIntegerFractionBits == 22, "the hand-worked numbers assume F = 22");
  CHECK(static_cast<double>(y.data()[0]) * 4194304.0 == 306309.0);
  // The fake-quantized float layer agrees to the fixed-point resolution.
  CHECK(std::fabs(eval_no_grad(layer, Tensor::from_vector({1, 2}, {0.3f, -0.7f})).data()[0] -
                  y.data()[0]) < 1e-6f);
  CHECK(integer.saturated_values() == 0);
  // An input beyond the fixed-point range (+-512) is clamped and counted.
  integer.forward(Tensor::from_vector({1, 2}, {600.0f, 0.0f}));
  CHECK(integer.saturated_values() == 1);
}

TEST_CASE("integer-only models predict as their fake-quantized models", "[integer]") {
  for (const lowbit::testing::QuantizedCase& c : lowbit::testing::quantized_zoo_cases()) {
    DYNAMIC_SECTION(
        c.model << " " << c.bits << "-bit "
                << (c.thresholds == Thresholds::kSymmetric ? "symmetric" : "asymmetric")) {
      Rng rng(11);
      const int64_t n = std::string(c.model) == "resnet50" ? 2 : 16;
      const Tensor images = random_tensor({n, c.channels, c.side, c.side}, rng, -2.0f, 2.0f);
      std::shared_ptr<Module> model = lowbit::testing::quantized_zoo_model(c, images, rng);

      IntegerModel integer(*model);
      const Tensor simulated = eval_no_grad(*model, images);
      const Tensor computed = eval_no_grad(integer, images);
      REQUIRE(computed.shape() == simulated.shape());
      Agreement agreement;
      accumulate_agreement(simulated, computed, agreement);
      INFO("max |logit difference| " << agreement.max_abs_logit_difference << " of logits up to "
                                     << max_abs(simulated));
      CHECK(agreement.agreeing == agreement.count);
      // Only values within the fixed-point resolution (2^-F) of a rounding boundary can take
      // another code than in float; each such flip moves the logits by about one grid step
      // downstream.
      CHECK(agreement.max_abs_logit_difference <= (c.bits == 8 ? 0.03 : 0.15) * max_abs(simulated));
      CHECK(!integer.quantized_layers().empty());
      CHECK(integer.saturated_values() == 0);
    }
  }
}

TEST_CASE("an imported graph with sums, concatenations and reshapes runs integer-only",
          "[integer]") {
  Rng rng(4);
  Tensor images;
  const std::shared_ptr<GraphModel> graph = lowbit::testing::quantized_graph_model(rng, images);
  GraphModel& g = *graph;
  IntegerModel integer(g);
  CHECK(integer.quantized_layers() == std::vector<std::string>{"a", "b", "fc"});
  const Tensor simulated = eval_no_grad(g, images);
  const Tensor computed = eval_no_grad(integer, images);
  REQUIRE(computed.shape() == Shape({16, 5}));
  Agreement agreement;
  accumulate_agreement(simulated, computed, agreement);
  CHECK(agreement.agreeing == agreement.count);
  CHECK(agreement.max_abs_logit_difference <= 0.03 * max_abs(simulated));
}

TEST_CASE("integer inference refuses what has no integer form, naming the module", "[integer]") {
  Rng rng(2);
  Sequential unfolded;
  unfolded.add(std::make_shared<Conv2d>(1, 2, 3)).add(std::make_shared<BatchNorm>(2));
  CHECK_THROWS_WITH(
      IntegerModel(unfolded),
      Catch::Contains("integer inference: 0 (Conv2d) needs uniform input and weight quantizers"));
  CHECK(unfolded.is_training());  // a refused model keeps its mode

  Sequential model;
  auto conv = std::make_shared<Conv2d>(2, 2, 3);
  model.add(conv).add(std::make_shared<BatchNorm>(2));
  auto in = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true));
  in->set_threshold({1.0f});
  auto wq = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true));
  wq->set_threshold({1.0f});
  conv->set_input_quantizer(in);
  conv->set_weight_quantizer(wq);
  CHECK_THROWS_WITH(IntegerModel(model),
                    Catch::Contains("integer inference: 1 is a BatchNorm that is not folded"));

  Sequential hardtanh;
  hardtanh.add(std::make_shared<Hardtanh>());
  CHECK_THROWS_WITH(
      IntegerModel(hardtanh),
      Catch::Contains("integer inference: 0 is a Hardtanh, which has no integer form"));

  Linear per_channel_input(3, 2, true, rng);
  auto in3 = std::make_shared<UniformQuantizer>(
      symmetric_quantizer_spec(8, true, Granularity::kVector, 1), 3);
  in3->set_threshold({1.0f, 1.0f, 1.0f});
  per_channel_input.set_input_quantizer(in3);
  auto w3 = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true));
  w3->set_threshold({1.0f});
  per_channel_input.set_weight_quantizer(w3);
  CHECK_THROWS_WITH(IntegerModel(per_channel_input), Catch::Contains("one threshold per channel"));
}
