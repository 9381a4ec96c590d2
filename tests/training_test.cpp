// End to end: a small CNN with every kind of layer overfits one small batch, and the
// same seed reproduces the same losses bit for bit.
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/losses.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "optim/sgd.h"

using namespace lowbit;

namespace {

std::shared_ptr<Sequential> small_cnn(Rng& rng) {
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(3, 8, 3, Conv2dOptions{1, 1, 1}, false, rng))
      .add(std::make_shared<BatchNorm>(8))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Conv2d>(8, 8, 3, Conv2dOptions{1, 1, 8}, false, rng))  // depthwise
      .add(std::make_shared<BatchNorm>(8))
      .add(std::make_shared<ReLU6>())
      .add(std::make_shared<AvgPool2d>(2))
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Linear>(8 * 2 * 2, 16, true, rng))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Linear>(16, 5, true, rng));
  return net;
}

struct FixedBatch {
  Tensor x;
  std::vector<int32_t> labels;
};

FixedBatch random_batch(Rng& rng) {
  FixedBatch b{Tensor::empty({10, 3, 8, 8}), {}};
  for (int64_t i = 0; i < b.x.numel(); ++i) b.x.data()[i] = rng.normal();
  for (int i = 0; i < 10; ++i) b.labels.push_back(i % 5);
  return b;
}

template <class Opt>
std::vector<float> train_losses(uint64_t seed, int steps, Opt make_optimizer) {
  Rng rng(seed);
  auto net = small_cnn(rng);
  const FixedBatch batch = random_batch(rng);
  auto optimizer = make_optimizer(net->parameters());
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    Tensor loss = cross_entropy(net->forward(batch.x), batch.labels);
    optimizer.zero_grad();
    backward(loss);
    optimizer.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST_CASE("a small CNN overfits one batch with Adam", "[training]") {
  const auto losses =
      train_losses(1, 300, [](std::vector<Parameter> p) { return Adam(p, AdamOptions{0.01f}); });
  INFO("start " << losses.front() << ", end " << losses.back());
  CHECK(losses.back() < 0.01f * losses.front());
}

TEST_CASE("a small CNN overfits one batch with SGD and momentum", "[training]") {
  const auto losses = train_losses(2, 300, [](std::vector<Parameter> p) {
    SgdOptions o;
    o.lr = 0.05f;
    o.momentum = 0.9f;
    return Sgd(p, o);
  });
  INFO("start " << losses.front() << ", end " << losses.back());
  CHECK(losses.back() < 0.01f * losses.front());
}

TEST_CASE("training is bit-identical for the same seed and thread count", "[training]") {
  auto adam = [](std::vector<Parameter> p) { return Adam(p, AdamOptions{0.01f}); };
  const int saved = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    CHECK(train_losses(3, 20, adam) == train_losses(3, 20, adam));
  }
  set_num_threads(saved);
}
