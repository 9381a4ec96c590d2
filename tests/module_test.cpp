// Module and Sequential: dotted names, roles, buffers, train/eval propagation.
#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>

#include "core/rng.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "layers/state_dict.h"

using namespace lowbit;

namespace {

class Block : public Module {
 public:
  Block() {
    fc_ = register_module("fc", std::make_shared<Linear>(3, 2));
    register_buffer("count", Tensor::zeros({1}));
  }
  Tensor forward(const Tensor& x) override { return fc_->forward(x); }
  std::string type_name() const override { return "Block"; }

 private:
  std::shared_ptr<Linear> fc_;
};

}  // namespace

TEST_CASE("parameters carry dotted names and roles in registration order", "[module]") {
  Sequential net;
  net.add(std::make_shared<Block>()).add(std::make_shared<Linear>(2, 4, false));
  const auto params = net.parameters();
  REQUIRE(params.size() == 3);
  CHECK(params[0].name == "0.fc.weight");
  CHECK(params[0].role == ParamRole::kWeight);
  CHECK(params[1].name == "0.fc.bias");
  CHECK(params[1].role == ParamRole::kBias);
  CHECK(params[2].name == "1.weight");
  CHECK(params[2].tensor.requires_grad());
  const auto buffers = net.buffers();
  REQUIRE(buffers.size() == 1);
  CHECK(buffers[0].name == "0.count");
}

TEST_CASE("train and eval reach every descendant", "[module]") {
  Sequential net;
  auto block = std::make_shared<Block>();
  net.add(block);
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(block->is_training());
  net.train();
  CHECK(block->is_training());
}

TEST_CASE("a mode guard sets a mode for a scope and gives the old one back, also on an exception",
          "[module]") {
  Sequential net;
  auto block = std::make_shared<Block>();
  net.add(block);
  {
    const ModeGuard mode(net, false);
    CHECK_FALSE(block->is_training());
  }
  CHECK(block->is_training());
  net.eval();
  try {
    const ModeGuard mode(net, true);
    CHECK(block->is_training());
    throw std::runtime_error("leaves the scope");
  } catch (const std::runtime_error&) {
  }
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(block->is_training());
}

TEST_CASE("sequential applies children in order", "[module]") {
  manual_seed(1);
  auto a = std::make_shared<Linear>(3, 4);
  auto b = std::make_shared<Linear>(4, 2);
  Sequential net({a, b});
  Tensor x = Tensor::full({5, 3}, 0.5f);
  CHECK(net.forward(x).to_vector() == b->forward(a->forward(x)).to_vector());
  CHECK(net.forward(x).shape() == Shape({5, 2}));
}

TEST_CASE("sequential children named by the model keep their names, unnamed ones their position",
          "[module]") {
  Sequential net;
  net.add("conv1", std::make_shared<Linear>(3, 4)).add(std::make_shared<Linear>(4, 2, false));
  const auto params = net.parameters();
  REQUIRE(params.size() == 3);
  CHECK(params[0].name == "conv1.weight");
  CHECK(params[2].name == "1.weight");
  CHECK(&net.child("conv1") == &net[0]);
  CHECK_THROWS_WITH(net.add("a.b", std::make_shared<Linear>(2, 2)), Catch::Contains("'a.b'"));
}

TEST_CASE("state_dict round-trips parameters and buffers and checks shapes", "[module]") {
  Block a, b;
  a.parameters()[0].tensor.fill(3.0f);
  a.buffers()[0].tensor.fill(5.0f);
  load_state_dict(b, state_dict(a, "m."), "m.");
  CHECK(b.parameters()[0].tensor.to_vector() == a.parameters()[0].tensor.to_vector());
  CHECK(b.buffers()[0].tensor.item() == 5.0f);
  CHECK_THROWS_WITH(load_state_dict(b, state_dict(a), "m."), Catch::Contains("m.fc.weight"));
  auto wrong = state_dict(a);
  wrong[0].tensor = Tensor::zeros({1});
  CHECK_THROWS_WITH(load_state_dict(b, wrong),
                    Catch::Contains("fc.weight") && Catch::Contains("(2, 3)"));
}
