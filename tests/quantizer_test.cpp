// Quantizers as layer options (DESIGN: quantization by composition): Conv2d and Linear with a
// weight and/or an input quantizer compute the float op on the quantized tensors, register the
// quantizer's parameters and buffers under their own names, pass gradients to the trained scales,
// accept any Quantizer (not only the uniform one), and keep the float path unchanged without one.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/linear.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/reduce.h"
#include "layers/state_dict.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using lowbit::testing::random_tensor;

namespace {

// Any scheme works: this one halves its input (a stand-in for a scheme the layers never heard of).
class HalvingQuantizer : public Quantizer {
 public:
  Tensor forward(const Tensor& x) override { return mul_scalar(x, 0.5f); }
  std::string type_name() const override { return "HalvingQuantizer"; }
  std::string describe() const override { return "halving"; }
};

// A broken scheme that changes the shape.
class FlatteningQuantizer : public Quantizer {
 public:
  Tensor forward(const Tensor& x) override { return Tensor::zeros({x.numel()}); }
  std::string type_name() const override { return "FlatteningQuantizer"; }
  std::string describe() const override { return "flattening"; }
};

std::vector<std::string> names(const std::vector<Parameter>& ps) {
  std::vector<std::string> out;
  for (const Parameter& p : ps) out.push_back(p.name);
  return out;
}

}  // namespace

TEST_CASE("quantizer: Conv2d with weight and input quantizers is conv2d of the quantized tensors",
          "[quantizer]") {
  Rng rng(5);
  Conv2d conv(3, 4, 3, Conv2dOptions{1, 1, 1}, true, rng);
  const Tensor x = random_tensor({2, 3, 5, 5}, rng, 0.0f, 2.0f);
  const Tensor float_y = conv(x);
  CHECK(float_y.to_vector() == conv2d(x, conv.weight(), conv.bias(), conv.options()).to_vector());

  auto wq = std::make_shared<UniformQuantizer>(
      symmetric_quantizer_spec(4, true, Granularity::kVector, 0), 4);
  wq->observe(conv.weight());
  auto xq = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(4, false), 1);
  xq->observe(x);
  conv.set_weight_quantizer(wq);
  conv.set_input_quantizer(xq);
  CHECK(conv.weight_quantizer() == wq);
  CHECK(conv.input_quantizer() == xq);
  const Tensor y = conv(x);
  const Tensor expected = conv2d((*xq)(x), (*wq)(conv.weight()), conv.bias(), conv.options());
  CHECK(y.to_vector() == expected.to_vector());
  CHECK(y.to_vector() != float_y.to_vector());  // 4 bits do change the result

  CHECK(names(conv.parameters()) == std::vector<std::string>{"weight", "bias",
                                                             "weight_quantizer.alpha",
                                                             "input_quantizer.alpha"});
  CHECK(conv.parameters()[2].role == ParamRole::kQuantScale);
  std::vector<std::string> state;
  for (const NamedTensor& t : state_dict(conv)) state.push_back(t.name);
  CHECK(state == std::vector<std::string>{"weight", "bias", "weight_quantizer.alpha",
                                          "input_quantizer.alpha", "weight_quantizer.t_max",
                                          "input_quantizer.t_max"});
}

TEST_CASE("quantizer: gradients reach the trained scales and, straight through, the weight",
          "[quantizer]") {
  Rng rng(6);
  Conv2d conv(2, 3, 3, Conv2dOptions{1, 1, 1}, false, rng);
  auto wq = std::make_shared<UniformQuantizer>(
      symmetric_quantizer_spec(8, true, Granularity::kVector, 0), 3);
  wq->observe(conv.weight());
  auto xq = std::make_shared<UniformQuantizer>(asymmetric_quantizer_spec(8, true), 1);
  Tensor x = random_tensor({2, 2, 4, 4}, rng);
  xq->observe(x);
  xq->alpha().data()[0] =
      0.8f;  // the top of the range clips: those values train the left limit (eq. 22)
  conv.set_weight_quantizer(wq);
  conv.set_input_quantizer(xq);
  x.set_requires_grad(true);
  backward(sum(conv(x)));
  for (const Parameter& p : conv.parameters()) {
    INFO(p.name);
    bool any = false;
    for (float g : p.tensor.grad_tensor().to_vector()) any = any || g != 0.0f;
    CHECK(any);
  }
  // With alpha = 1 every weight lies within its channel's threshold: round' = 1 passes dW
  // unchanged, so it equals the float layer's dW on the quantized input.
  Tensor w_float = conv.weight().detach().clone();
  w_float.set_requires_grad(true);
  backward(sum(conv2d((*xq)(x.detach()), (*wq)(w_float), Tensor(), conv.options())));
  CHECK(conv.weight().grad_tensor().to_vector() == w_float.grad_tensor().to_vector());
}

TEST_CASE("quantizer: Linear with weight and input quantizers", "[quantizer]") {
  Rng rng(7);
  Linear fc(6, 3, true, rng);
  const Tensor x = random_tensor({4, 6}, rng);
  auto wq = std::make_shared<UniformQuantizer>(
      asymmetric_quantizer_spec(3, true, Granularity::kVector, 0), 3);
  wq->observe(fc.weight());
  auto xq = std::make_shared<UniformQuantizer>(
      symmetric_quantizer_spec(5, true, Granularity::kVector, 1), 6);
  xq->observe(x);
  fc.set_weight_quantizer(wq);
  fc.set_input_quantizer(xq);
  CHECK(fc(x).to_vector() == linear((*xq)(x), (*wq)(fc.weight()), fc.bias()).to_vector());
  CHECK(names(fc.parameters()) ==
        std::vector<std::string>{"weight", "bias", "weight_quantizer.alpha_left",
                                 "weight_quantizer.alpha_width", "input_quantizer.alpha"});
}

TEST_CASE("quantizer: layers take any Quantizer and never know the scheme", "[quantizer]") {
  Rng rng(8);
  Linear fc(3, 2, false, rng);
  const Tensor x = random_tensor({2, 3}, rng);
  fc.set_weight_quantizer(std::make_shared<HalvingQuantizer>());
  const std::vector<float> y = fc(x).to_vector(),
                           expected = linear(x, mul_scalar(fc.weight(), 0.5f)).to_vector();
  CHECK(y == expected);
  Conv2d conv(1, 1, 1, Conv2dOptions{}, false, rng);
  conv.set_input_quantizer(std::make_shared<FlatteningQuantizer>());
  CHECK_THROWS_WITH(conv(Tensor::zeros({1, 1, 2, 2})),
                    Catch::Contains("changed shape (1, 1, 2, 2) to (4,)"));
}

TEST_CASE("quantizer: a forward observer sees the layer with its float input, not its quantizers",
          "[quantizer]") {
  Rng rng(9);
  Conv2d conv(1, 2, 1, Conv2dOptions{}, true, rng);
  auto xq = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(2, true), 1);
  xq->set_threshold({1.0f});
  conv.set_input_quantizer(xq);
  const Tensor x = Tensor::from_vector({1, 1, 1, 2}, {0.3f, -0.9f});
  std::vector<std::string> seen;
  std::vector<float> seen_input;
  {
    ObserveForward observe([&](const Module& m, const Tensor& in, const Tensor&) {
      seen.push_back(m.type_name());
      seen_input = in.to_vector();
    });
    conv(x);
  }
  CHECK(seen == std::vector<std::string>{"Conv2d"});
  CHECK(seen_input == std::vector<float>{0.3f, -0.9f});
}

TEST_CASE("quantizer: a layer takes each quantizer once, never a null one", "[quantizer]") {
  Rng rng(10);
  Conv2d conv(1, 1, 1, Conv2dOptions{}, true, rng);
  conv.set_weight_quantizer(std::make_shared<HalvingQuantizer>());
  CHECK_THROWS_WITH(conv.set_weight_quantizer(std::make_shared<HalvingQuantizer>()),
                    Catch::Contains("attached already"));
  CHECK_THROWS_WITH(conv.set_input_quantizer(nullptr), Catch::Contains("null"));
  Linear fc(1, 1, true, rng);
  fc.set_input_quantizer(std::make_shared<HalvingQuantizer>());
  CHECK_THROWS_WITH(fc.set_input_quantizer(std::make_shared<HalvingQuantizer>()),
                    Catch::Contains("attached already"));
  CHECK_THROWS_WITH(fc.set_weight_quantizer(nullptr), Catch::Contains("null"));
}

TEST_CASE("quantizer: add_bias gives a bias-free layer a zero bias, once", "[quantizer]") {
  Rng rng(11);
  Conv2d conv(2, 3, 1, Conv2dOptions{}, false, rng);
  const Tensor x = random_tensor({1, 2, 2, 2}, rng);
  const std::vector<float> before = conv(x).to_vector();
  const Tensor b = conv.add_bias();
  CHECK(b.to_vector() == std::vector<float>(3, 0.0f));
  CHECK(conv.add_bias().impl() == b.impl());
  CHECK(conv(x).to_vector() == before);
  REQUIRE(conv.parameters().size() == 2);
  CHECK(conv.parameters()[1].name == "bias");
  CHECK(conv.parameters()[1].role == ParamRole::kBias);
  Linear fc(2, 4, false, rng);
  CHECK(fc.add_bias().shape() == Shape{4});
  CHECK(fc.parameters().size() == 2);
}
