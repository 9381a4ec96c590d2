// LeNet-5: the published form (no BN) with ReLU, and BN before every quantized activation with
// the power-of-two activation (Long et al. 2020's conv-BN-activation blocks); end to end, such a
// LeNet-5 with power-of-two weights trained by DST learns a small synthetic task.
#include "models/lenet5.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/losses.h"
#include "models/transforms/weight_grid.h"
#include "optim/adam.h"
#include "optim/dst_optimizer.h"
#include "tests/zoo_options.h"

using namespace lowbit;

namespace {

// The synthetic task's rate and length (see the last test).
constexpr float kDstTestLr = 0.01f;
constexpr int kDstTestEpochs = 6;

std::vector<std::string> module_types(const Sequential& net) {
  std::vector<std::string> out;
  for (size_t i = 0; i < net.size(); ++i) out.push_back(net[i].type_name());
  return out;
}

ModelOptions mnist_options(ActivationSpec::Kind kind) {
  ModelOptions o = testing::zoo_options("lenet5");
  o.activation.kind = kind;
  return o;
}

// Ten classes of 28x28 images: a bright 7x4 bar at a class-specific place (jittered by up to two
// rows) on a noisy background, scaled to about zero mean and unit spread.
struct Squares {
  Tensor x;
  std::vector<int32_t> labels;
};

Squares squares(int64_t count, uint64_t seed) {
  Rng rng(seed);
  Squares d{Tensor::empty({count, 1, 28, 28}), {}};
  float* px = d.x.data();
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(i % 10);
    d.labels.push_back(label);
    const int top = 2 + (label / 5) * 12 + static_cast<int>(rng.below(3)),
              left = 2 + (label % 5) * 5;
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const bool inside = y >= top && y < top + 7 && x >= left && x < left + 4;
        const float pixel =
            inside ? 200.0f + static_cast<float>(rng.below(56)) : static_cast<float>(rng.below(60));
        *px++ = (pixel / 255.0f - 0.15f) / 0.3f;
      }
    }
  }
  return d;
}

Squares batch_of(const Squares& d, int64_t begin, int64_t size) {
  Squares b{Tensor::empty({size, 1, 28, 28}), {}};
  const int64_t image = 28 * 28;
  std::copy(d.x.data() + begin * image, d.x.data() + (begin + size) * image, b.x.data());
  b.labels.assign(d.labels.begin() + begin, d.labels.begin() + begin + size);
  return b;
}

double accuracy(Module& net, const Squares& d) {
  NoGradGuard no_grad;
  net.eval();
  const Tensor logits = net.forward(d.x);
  net.train();
  const int64_t n = logits.shape()[0], classes = logits.shape()[1];
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * classes;
    right += std::max_element(row, row + classes) - row == d.labels[static_cast<size_t>(i)];
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

}  // namespace

TEST_CASE("lenet5 with ReLU is the published model, without batch norm", "[lenet5]") {
  Rng rng(1);
  auto net = make_lenet5(mnist_options(ActivationSpec::Kind::kRelu), rng);
  using Types = std::vector<std::string>;
  CHECK(module_types(*net) == Types{"Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                                    "Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"});
  // 156 + 2416 + 48120 + 10164 + 850 = 61706 parameters, every layer with a bias.
  int64_t count = 0;
  for (const Parameter& p : net->parameters()) count += p.tensor.numel();
  CHECK(count == 61706);
}

TEST_CASE("lenet5 with a quantized activation has BN before each one", "[lenet5]") {
  for (auto kind : {ActivationSpec::Kind::kPow2, ActivationSpec::Kind::kReluPow2}) {
    Rng rng(1);
    auto net = make_lenet5(mnist_options(kind), rng);
    using Types = std::vector<std::string>;
    const Types expected{"Conv2d",  "BatchNorm", "Pow2Activation", "MaxPool2d",
                         "Conv2d",  "BatchNorm", "Pow2Activation", "MaxPool2d",
                         "Flatten", "Linear",    "BatchNorm",      "Pow2Activation",
                         "Linear",  "BatchNorm", "Pow2Activation", "Linear"};
    CHECK(module_types(*net) == expected);
    // Every activation directly follows a BN whose width is the preceding layer's output.
    for (size_t i = 0; i < net->size(); ++i) {
      if ((*net)[i].type_name() != "Pow2Activation") continue;
      REQUIRE(i >= 2);
      const auto* bn = dynamic_cast<const BatchNorm*>(&(*net)[i - 1]);
      REQUIRE(bn != nullptr);
      const std::vector<Parameter> layer = (*net)[i - 2].parameters();
      REQUIRE(layer.size() == 1);  // the weight only: no bias before a BN
      CHECK(layer[0].tensor.shape()[0] == bn->channels());
    }
    // The last layer keeps its bias; the output is (N, 10).
    CHECK((*net)[net->size() - 1].parameters().size() == 2);
    NoGradGuard no_grad;
    Tensor x = Tensor::zeros({3, 1, 28, 28});
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
    CHECK(net->forward(x).shape() == Shape{3, 10});
  }
}

TEST_CASE("a power-of-two LeNet-5 trained by DST learns a small synthetic task",
          "[lenet5][dst][train]") {
  // The paper's setting [-3, 0.125]: grid {0, ±1/8, ..., ±1} from the fitted initialization, 3-bit
  // activations with q2 = 0.125, the first layer in float, th = 0.5, Adam proposing the steps.
  ModelOptions o = mnist_options(ActivationSpec::Kind::kPow2);
  Rng rng(5);
  auto net = make_lenet5(o, rng);
  const std::vector<Parameter> grid = grid_weight_parameters(*net, false, false);
  REQUIRE(grid.size() == 3);
  AdamOptions adam;
  adam.lr = kDstTestLr;
  DstOptimizer dst(grid, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_adam(adam), 9);
  Adam rest(other_parameters(*net, grid), adam);
  const Squares train = squares(500, 1), test = squares(200, 2);
  const double before = accuracy(*net, test);
  const int64_t batch = 50;
  for (int epoch = 0; epoch < kDstTestEpochs; ++epoch) {
    for (int64_t begin = 0; begin < 500; begin += batch) {
      const Squares b = batch_of(train, begin, batch);
      Tensor loss = cross_entropy(net->forward(b.x), b.labels);
      dst.zero_grad();
      rest.zero_grad();
      backward(loss);
      dst.step();
      rest.step();
    }
  }
  const double after = accuracy(*net, test);
  INFO("test accuracy " << before << " -> " << after);
  CHECK(after > 0.6);  // chance is 0.1
  // The grid weights never left the grid.
  int64_t off_grid = 0;
  for (size_t k = 0; k < grid.size(); ++k) {
    const float* w = grid[k].tensor.data();
    for (int64_t i = 0; i < grid[k].tensor.numel(); ++i)
      off_grid += grid_value(project_to_grid(w[i], dst.spec()), dst.spec()) != w[i];
  }
  CHECK(off_grid == 0);
}
