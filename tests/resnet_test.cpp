// The ResNet blocks' parts: every child of a residual block is its branch, its shortcut or its
// activation, as the accessors name them (what integer inference and zero_init_residual rely on).
#include "models/resnet.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/sequential.h"
#include "layers/shortcut.h"
#include "models/model_zoo.h"
#include "tests/gradcheck.h"

using namespace lowbit;

TEST_CASE("a residual block's accessors name every child: branch, shortcut and activation",
          "[resnet]") {
  struct Expected {
    const char* model;
    int blocks, projections, option_a;
    size_t branch;
  };
  for (const Expected& e : {Expected{"resnet20", 9, 0, 2, 5}, Expected{"resnet50", 16, 4, 0, 8}}) {
    INFO(e.model);
    Rng rng(1);
    auto model = make_model(e.model, ModelOptions{}, rng);
    int blocks = 0, projections = 0, option_a = 0;
    std::function<void(const Module&)> visit = [&](const Module& m) {
      if (const auto* b = dynamic_cast<const ResidualBlock*>(&m)) {
        ++blocks;
        std::vector<std::string> parts = b->branch(), children;
        if (!b->shortcut().empty()) parts.push_back(b->shortcut());
        parts.push_back(b->activation());
        CHECK(b->input_activation().empty());  // after the sum unless asked otherwise
        for (const auto& entry : m.children()) children.push_back(entry.first);
        CHECK(parts == children);  // registered in the order forward applies them
        CHECK(b->branch().size() == e.branch);
        CHECK(dynamic_cast<const Conv2d*>(&m.child(b->branch().front())) != nullptr);
        CHECK(dynamic_cast<const BatchNorm*>(&m.child(b->branch().back())) != nullptr);
        if (!b->shortcut().empty()) {
          const Module& s = m.child(b->shortcut());
          if (dynamic_cast<const PadChannelsShortcut*>(&s)) {
            CHECK(b->shortcut() == "shortcut");
            ++option_a;
          } else {
            CHECK(b->shortcut() == "downsample");
            CHECK(dynamic_cast<const Sequential*>(&s) != nullptr);
            ++projections;
          }
        }
      }
      for (const auto& entry : m.children()) visit(*entry.second);
    };
    visit(*model);
    CHECK(blocks == e.blocks);
    CHECK(projections == e.projections);
    CHECK(option_a == e.option_a);
  }
}

namespace {

std::vector<ResidualBlock*> residual_blocks(Module& m) {
  std::vector<ResidualBlock*> blocks;
  if (auto* b = dynamic_cast<ResidualBlock*>(&m)) blocks.push_back(b);
  for (const auto& entry : m.children())
    for (ResidualBlock* b : residual_blocks(*entry.second)) blocks.push_back(b);
  return blocks;
}

}  // namespace

TEST_CASE("with the activation at the branch's input, a block passes its sum on unquantized",
          "[resnet]") {
  // ResNet-20's blocks have option-A shortcuts, ResNet-18's stage entries projections.
  for (const std::string name : {"resnet20", "resnet18"}) {
    INFO(name);
    ModelOptions options;
    options.activation.kind = ActivationSpec::Kind::kPow2;  // levels 0, +-1/8, +-1/4, +-1/2
    options.activation.residual = ActivationSpec::Residual::kBranchInput;
    Rng rng(3);
    auto model = make_model(name, options, rng);
    model->eval();
    std::vector<ResidualBlock*> blocks = residual_blocks(*model);
    REQUIRE(!blocks.empty());
    int projections = 0, option_a = 0;
    for (ResidualBlock* b : blocks) {
      CHECK(b->input_activation() == "relu_in");
      CHECK(b->activation().empty());
      std::vector<std::string> parts{b->input_activation()}, children;
      for (const std::string& part : b->branch()) parts.push_back(part);
      if (!b->shortcut().empty()) parts.push_back(b->shortcut());
      for (const auto& entry : b->children()) children.push_back(entry.first);
      CHECK(parts == children);
      if (b->shortcut().empty()) continue;
      // y = branch(a(x)) + shortcut, where a projection reads a(x) and option A reads x.
      const bool projection = b->shortcut() == "downsample";
      (projection ? projections : option_a) += 1;
      const int64_t channels = dynamic_cast<const Conv2d&>(b->child("conv1")).in_channels();
      const Tensor x = lowbit::testing::random_tensor({2, channels, 8, 8}, rng);
      const Tensor levels = b->child("relu_in")(x);
      Tensor h = levels;
      for (const std::string& part : b->branch()) h = b->child(part)(h);
      const Tensor expected = add(h, b->child(b->shortcut())(projection ? levels : x));
      const Tensor y = (*b)(x);
      REQUIRE(y.shape() == expected.shape());
      float widest = 0;
      for (int64_t i = 0; i < y.numel(); ++i) {
        REQUIRE(y.data()[i] == expected.data()[i]);
        widest = std::max(widest, std::abs(y.data()[i]));
      }
      CHECK(widest > 0.5f);  // beyond the top level: the sum is not quantized
    }
    CHECK(projections == (name == "resnet18" ? 3 : 0));
    CHECK(option_a == (name == "resnet20" ? 2 : 0));
  }
}
