// The ResNet blocks' parts: every child of a residual block is its branch, its shortcut or its
// activation, as the accessors name them (what integer inference and zero_init_residual rely on).
#include "models/resnet.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/sequential.h"
#include "layers/shortcut.h"
#include "models/model_zoo.h"

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
