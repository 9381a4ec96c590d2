// Identity and Module::replace_child: y = x with no graph node, a child replaced in place (same
// name, same position, the parent's mode), a parent calling by name sees the replacement, and the
// errors.
#include "layers/identity.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/linear.h"
#include "layers/sequential.h"

using namespace lowbit;

namespace {

// Calls its children by name, as the zoo's composite modules do.
class ByName : public Module {
 public:
  ByName() {
    register_module("fc", std::make_shared<Linear>(2, 2));
    register_module("act", std::make_shared<ReLU>());
  }
  Tensor forward(const Tensor& x) override { return child("act")(child("fc")(x)); }
  std::string type_name() const override { return "ByName"; }
};

std::vector<std::string> names(const Module& m) {
  std::vector<std::string> out;
  for (const Parameter& p : m.parameters()) out.push_back(p.name);
  return out;
}

}  // namespace

TEST_CASE("identity: returns its input itself", "[identity]") {
  Identity id;
  Tensor x = Tensor::from_vector({2, 3}, {1, -2, 3, -4, 5, -6});
  x.set_requires_grad(true);
  const Tensor y = id(x);
  CHECK(y.impl() == x.impl());  // the same tensor: no copy, no node
  CHECK(id.parameters().empty());
  CHECK(id.buffers().empty());
  CHECK(id.type_name() == "Identity");
}

TEST_CASE("identity: replace_child keeps the name and position and takes the parent's mode",
          "[identity]") {
  Sequential net;
  net.add(std::make_shared<Linear>(2, 3))
      .add(std::make_shared<BatchNorm>(3))
      .add(std::make_shared<Linear>(3, 1));
  CHECK(names(net) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"});
  net.eval();
  auto id = std::make_shared<Identity>();
  REQUIRE(id->is_training());
  net.replace_child("1", id);
  CHECK_FALSE(id->is_training());
  CHECK(&net.child("1") == id.get());
  CHECK(net.children().size() == 3);
  CHECK(names(net) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(net.buffers().empty());  // the BN's running statistics left with it
  net.train();
  CHECK(id->is_training());

  // The Sequential's output is now linear2(linear1(x)).
  const Tensor x = Tensor::from_vector({1, 2}, {0.5f, -1.0f});
  NoGradGuard no_grad;
  const Tensor expected = net[2](net[0](x));
  CHECK(net(x).to_vector() == expected.to_vector());
}

TEST_CASE("identity: a parent that calls its children by name sees the replacement", "[identity]") {
  ByName block;
  const Tensor x = Tensor::from_vector({1, 2}, {-3.0f, 2.0f});
  NoGradGuard no_grad;
  const Tensor pre = block.child("fc")(x);
  block.replace_child("act", std::make_shared<Identity>());
  CHECK(block(x).to_vector() == pre.to_vector());  // no ReLU any more: negative values pass
}

TEST_CASE("identity: replace_child and child errors", "[identity]") {
  ByName block;
  CHECK_THROWS_WITH(block.replace_child("bn", std::make_shared<Identity>()),
                    Catch::Contains("no child 'bn'") && Catch::Contains("fc, act"));
  CHECK_THROWS_WITH(block.replace_child("fc", nullptr), Catch::Contains("is null"));
  CHECK_THROWS_WITH(block.child("nope"), Catch::Contains("ByName has no child 'nope'"));
  Identity leaf;
  CHECK_THROWS_WITH(leaf.child("x"), Catch::Contains("its children: none"));
}
