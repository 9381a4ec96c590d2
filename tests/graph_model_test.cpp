// GraphModel: a graph of modules with sums and concatenations computes what the same modules
// composed by hand compute; its layers are children that traces and BN folding see; bad graphs
// are refused.
#include "models/graph_model.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/concatenate.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/reduce.h"
#include "models/transforms/bn_folding.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using lowbit::testing::random_tensor;

namespace {

// Randomized BN statistics, so that folding has something to fold.
std::shared_ptr<BatchNorm> random_batch_norm(int64_t channels, Rng& rng) {
  auto bn = std::make_shared<BatchNorm>(channels);
  for (int64_t c = 0; c < channels; ++c) {
    bn->weight().data()[c] = 0.5f + rng.uniform();
    bn->bias().data()[c] = rng.uniform() - 0.5f;
    bn->running_mean().data()[c] = 0.4f * (rng.uniform() - 0.5f);
    bn->running_var().data()[c] = 0.5f + rng.uniform();
  }
  return bn;
}

}  // namespace

TEST_CASE("a graph with a residual sum and a concatenation equals the modules composed by hand",
          "[graph_model]") {
  Rng rng(3);
  auto conv_a = std::make_shared<Conv2d>(2, 3, 3, Conv2dOptions{1, 1, 1}, false, rng);
  auto bn_a = random_batch_norm(3, rng);
  auto conv_b = std::make_shared<Conv2d>(2, 3, 1, Conv2dOptions{}, true, rng);
  auto relu = std::make_shared<ReLU>();
  GraphModel g;
  const auto a = g.add_module("bn_a", bn_a, g.add_module("conv_a", conv_a, GraphModel::kInput));
  const auto b = g.add_module("conv_b", conv_b, GraphModel::kInput);
  const auto sum = g.add_module("relu", relu, g.add_sum(a, b));
  g.add_concat({sum, b, a}, 1);
  g.eval();

  const Tensor x = random_tensor({2, 2, 4, 4}, rng);
  const Tensor ya = (*bn_a)((*conv_a)(x)), yb = (*conv_b)(x);
  const Tensor expected = concatenate({(*relu)(add(ya, yb)), yb, ya}, 1);
  const Tensor y = g(x);
  CHECK(y.shape() == Shape({2, 9, 4, 4}));
  CHECK(y.to_vector() == expected.to_vector());

  std::vector<std::string> names;
  for (const auto& child : g.children()) names.push_back(child.first);
  CHECK(names == std::vector<std::string>{"conv_a", "bn_a", "conv_b", "relu"});
  CHECK(g.parameters().size() == 5);  // conv_a.weight, bn_a.{weight,bias}, conv_b.{weight,bias}
}

TEST_CASE("set_output picks an earlier value, and gradients reach every layer", "[graph_model]") {
  Rng rng(4);
  GraphModel g;
  auto conv = std::make_shared<Conv2d>(1, 2, 3, Conv2dOptions{1, 1, 1}, true, rng);
  const auto c = g.add_module("conv", conv, GraphModel::kInput);
  g.add_module("relu", std::make_shared<ReLU>(), c);
  g.set_output(c);
  const Tensor x = random_tensor({1, 1, 3, 3}, rng);
  const Tensor y = g(x);
  CHECK(y.to_vector() == (*conv)(x).to_vector());  // the conv's output, before the ReLU
  backward(sum(y));
  CHECK(conv->weight().has_grad());
}

TEST_CASE("BN folding folds a conv and BN pair inside a graph and keeps its outputs",
          "[graph_model]") {
  Rng rng(5);
  GraphModel g;
  const auto c = g.add_module(
      "conv", std::make_shared<Conv2d>(3, 4, 3, Conv2dOptions{1, 1, 1}, false, rng), 0);
  const auto bn = g.add_module("bn", random_batch_norm(4, rng), c);
  g.add_sum(bn, g.add_module("shortcut", std::make_shared<Conv2d>(3, 4, 1), GraphModel::kInput));
  g.eval();
  const Tensor x = random_tensor({2, 3, 5, 5}, rng);
  const std::vector<float> before = g(x).to_vector();
  const BnFoldReport report = fold_batch_norms(g, x);
  CHECK(report.folded == 1);
  CHECK(g.child("bn").type_name() == "Identity");
  const std::vector<float> after = g(x).to_vector();
  for (size_t i = 0; i < before.size(); ++i) CHECK(after[i] == Approx(before[i]).margin(1e-5));
}

TEST_CASE("GraphModel refuses unknown values, repeated and dotted names", "[graph_model]") {
  GraphModel g;
  const auto r = g.add_module("relu", std::make_shared<ReLU>(), GraphModel::kInput);
  CHECK_THROWS_WITH(g.add_module("relu", std::make_shared<ReLU>(), r),
                    Catch::Contains("two layers named 'relu'"));
  CHECK_THROWS_WITH(g.add_module("a.b", std::make_shared<ReLU>(), r),
                    Catch::Contains("without '.'"));
  CHECK_THROWS_WITH(g.add_sum(r, 7), Catch::Contains("value 7 does not exist"));
  CHECK_THROWS_WITH(g.add_concat({}, 1), Catch::Contains("concatenation of nothing"));
  CHECK_THROWS_WITH(g.set_output(-1), Catch::Contains("does not exist"));
}
