// The split into grid weights and float parameters: which layers, in which order, for the four
// first/last combinations of Table 4, on lenet5 and resnet18; and the grid initialization of those
// weights (DstOptimizer's GridInit) on lenet5, resnet20 and resnet18; which convolutions then sum
// exactly in evaluation.
#include "models/transforms/weight_grid.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <set>

#include "layers/conv2d.h"
#include "layers/linear.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "optim/dst_optimizer.h"
#include "tests/zoo_options.h"

using namespace lowbit;

namespace {

std::vector<std::string> names(const std::vector<Parameter>& params) {
  std::vector<std::string> out;
  for (const Parameter& p : params) out.push_back(p.name);
  return out;
}

// grid and other partition the model's parameters, in registration order each.
void check_partition(const Module& model, const std::vector<Parameter>& grid,
                     const std::vector<Parameter>& other) {
  const std::vector<Parameter> all = model.parameters();
  REQUIRE(grid.size() + other.size() == all.size());
  std::set<std::string> seen;
  for (const Parameter& p : grid) seen.insert(p.name);
  for (const Parameter& p : other) {
    CHECK(seen.count(p.name) == 0);
    seen.insert(p.name);
  }
  CHECK(seen.size() == all.size());
  auto in_order = [&](const std::vector<Parameter>& subset) {
    size_t j = 0;
    for (const Parameter& p : subset) {
      while (j < all.size() && all[j].name != p.name) ++j;
      if (j == all.size()) return false;
    }
    return true;
  };
  CHECK(in_order(grid));
  CHECK(in_order(other));
}

}  // namespace

TEST_CASE("lenet5's grid weights for the four first/last combinations", "[weight_grid]") {
  Rng rng(0);
  auto model = make_model("lenet5", testing::zoo_options("lenet5"), rng);
  using Names = std::vector<std::string>;
  CHECK(names(grid_weight_parameters(*model, false, false)) ==
        Names{"conv2.weight", "fc1.weight", "fc2.weight"});
  CHECK(names(grid_weight_parameters(*model, true, false)) ==
        Names{"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"});
  CHECK(names(grid_weight_parameters(*model, false, true)) ==
        Names{"conv2.weight", "fc1.weight", "fc2.weight", "fc3.weight"});
  CHECK(names(grid_weight_parameters(*model, true, true)) ==
        Names{"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight", "fc3.weight"});
  for (bool first : {false, true}) {
    for (bool last : {false, true}) {
      const std::vector<Parameter> grid = grid_weight_parameters(*model, first, last);
      const std::vector<Parameter> other = other_parameters(*model, grid);
      check_partition(*model, grid, other);
      for (const Parameter& p : other) {
        if (p.role == ParamRole::kWeight)
          CHECK(((p.name == "conv1.weight" && !first) || (p.name == "fc3.weight" && !last)));
      }
    }
  }
  const std::vector<Parameter> other =
      other_parameters(*model, grid_weight_parameters(*model, false, false));
  CHECK(names(other) == Names{"conv1.weight", "conv1.bias", "conv2.bias", "fc1.bias", "fc2.bias",
                              "fc3.weight", "fc3.bias"});
}

TEST_CASE("resnet18's grid weights: 20 convolutions and the linear layer", "[weight_grid]") {
  Rng rng(0);
  auto model = make_model("resnet18", ModelOptions{}, rng);
  const std::vector<Parameter> all = grid_weight_parameters(*model, true, true);
  REQUIRE(all.size() == 21);
  CHECK(all.front().name == "conv1.weight");
  CHECK(all.front().tensor.shape() == Shape({64, 3, 3, 3}));
  CHECK(all.back().name == "fc.weight");
  CHECK(all.back().tensor.shape() == Shape({10, 512}));
  for (size_t i = 0; i + 1 < all.size(); ++i) CHECK(all[i].tensor.rank() == 4);

  const std::vector<Parameter> middle = grid_weight_parameters(*model, false, false);
  REQUIRE(middle.size() == 19);
  CHECK(middle.front().name == "layer1.0.conv1.weight");
  CHECK(middle.back().name == "layer4.1.conv2.weight");
  CHECK(grid_weight_parameters(*model, true, false).size() == 20);
  CHECK(grid_weight_parameters(*model, true, false).front().name == "conv1.weight");
  CHECK(grid_weight_parameters(*model, false, true).size() == 20);
  CHECK(grid_weight_parameters(*model, false, true).back().name == "fc.weight");

  for (bool first : {false, true}) {
    for (bool last : {false, true}) {
      const std::vector<Parameter> grid = grid_weight_parameters(*model, first, last);
      const std::vector<Parameter> other = other_parameters(*model, grid);
      check_partition(*model, grid, other);
      for (const Parameter& p : grid) CHECK(p.role == ParamRole::kWeight);
      int64_t norms = 0;
      for (const Parameter& p : other)
        norms += p.role == ParamRole::kNormScale || p.role == ParamRole::kNormShift;
      CHECK(norms == 2 * 20);  // every batch norm's scale and shift stays with the base optimizer
    }
  }
  const std::vector<std::string> other = names(other_parameters(*model, middle));
  CHECK(other.front() == "conv1.weight");
  CHECK(std::count(other.begin(), other.end(), "fc.weight") == 1);
}

TEST_CASE("a single layer is both first and last", "[weight_grid]") {
  Rng rng(0);
  Linear fc(4, 3, true, rng);
  CHECK(grid_weight_parameters(fc, true, true).size() == 1);
  CHECK(grid_weight_parameters(fc, true, false).empty());
  CHECK(grid_weight_parameters(fc, false, true).empty());
  CHECK(other_parameters(fc, {}).size() == 2);
  CHECK(names(other_parameters(fc, grid_weight_parameters(fc, true, true))) ==
        std::vector<std::string>{"bias"});
}

namespace {

struct GridUse {
  double nonzero = 0;  // share of non-zero weights
  int levels = 0;      // distinct non-zero magnitudes in use
};

GridUse grid_use(const DstOptimizer& opt, size_t k) {
  const std::vector<GridState>& s = opt.grid_states(k);
  const Tensor& t = opt.parameters()[k].tensor;
  std::set<int> magnitudes;
  int64_t nonzero = 0, off_grid = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const float decoded = grid_value(s[i], opt.spec());
    // Exactly on the grid: a grid state, and the float the layer reads is its value bit for bit.
    off_grid +=
        !is_grid_state(s[i], opt.spec()) || std::memcmp(&t.data()[i], &decoded, sizeof(float)) != 0;
    if (s[i] != 0) {
      ++nonzero;
      magnitudes.insert(std::abs(static_cast<int>(s[i])));
    }
  }
  CHECK(off_grid == 0);
  return {static_cast<double>(nonzero) / static_cast<double>(s.size()),
          static_cast<int>(magnitudes.size())};
}

ModelOptions pow2_options(const std::string& model) {
  ModelOptions o = testing::zoo_options(model);
  o.activation.kind = ActivationSpec::Kind::kPow2;
  return o;
}

}  // namespace

TEST_CASE("the fitted grid initialization keeps most weights non-zero in every grid layer",
          "[weight_grid][dst]") {
  for (const std::string name : {"lenet5", "resnet20", "resnet18"}) {
    for (int min_exp : {-3, -2}) {
      if (name == "resnet18" && min_exp != -3) continue;  // 11M weights: once is enough
      Rng rng(7);
      auto model = make_model(name, pow2_options(name), rng);
      const std::vector<Parameter> grid = grid_weight_parameters(*model, true, true);
      DstOptimizer opt(grid, DstSpec{min_exp, 0.5f}, BaseOptimizerOptions{}, 1);
      for (size_t k = 0; k < grid.size(); ++k) {
        const GridUse use = grid_use(opt, k);
        INFO(name << " " << grid[k].name << " min_exp " << min_exp << ": " << use.nonzero
                  << " non-zero, " << use.levels << " magnitudes, scale " << opt.init_scale(k));
        CHECK(use.nonzero > 0.75);
        CHECK(use.levels >= -min_exp);    // uses the grid, not only ±L
        CHECK(opt.init_scale(k) > 1.0f);  // every standard initialization is smaller than the grid
      }
    }
  }
}

TEST_CASE("the nearest projection of a standard initialization zeroes lenet5's layers",
          "[weight_grid][dst]") {
  // The failure GridInit::kFittedScale exists for: |w| <= 1/sqrt(400) = 0.05 < L / 2 = 1/16.
  Rng rng(7);
  auto model = make_model("lenet5", pow2_options("lenet5"), rng);
  const std::vector<Parameter> grid = grid_weight_parameters(*model, false, false);
  DstOptimizer opt(grid, DstSpec{-3, 0.5f}, BaseOptimizerOptions{}, 1, GridInit::kNearest);
  REQUIRE(grid[1].tensor.shape() == Shape({120, 400}));
  CHECK(grid_use(opt, 1).nonzero == 0.0);
}

TEST_CASE("use_exact_sums marks the grid convolutions of resnet20 and no other", "[weight_grid]") {
  Rng rng(1);
  std::shared_ptr<Module> model =
      make_model("resnet20", lowbit::testing::zoo_options("resnet20"), rng);
  const std::vector<Parameter> grid = grid_weight_parameters(*model, false, true);
  // 19 grid convolutions: the first (float) one is left, and the last layer is a Linear.
  CHECK(use_exact_sums(*model, grid) == 18);
  int exact = 0, summed_by_any_method = 0;
  for_each_module(*model, [&](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m))
      (conv->options().exact_sums ? exact : summed_by_any_method)++;
  });
  CHECK(exact == 18);
  CHECK(summed_by_any_method == 1);  // conv1, in float
}

TEST_CASE("use_wide_sums marks the float first convolution only", "[weight_grid]") {
  Rng rng(1);
  std::shared_ptr<Module> model =
      make_model("resnet20", lowbit::testing::zoo_options("resnet20"), rng);
  auto marked = [&] {
    int count = 0;
    for_each_module(*model, [&](Module& m) {
      if (auto* conv = dynamic_cast<Conv2d*>(&m)) count += conv->options().wide_sums;
    });
    return count;
  };
  const std::vector<Parameter> on_grid = grid_weight_parameters(*model, true, true);
  CHECK(use_wide_sums(*model, on_grid) == 0);  // --quantize-first: conv1 is on the grid
  CHECK(marked() == 0);
  const std::vector<Parameter> grid = grid_weight_parameters(*model, false, true);
  CHECK(use_wide_sums(*model, grid) == 1);
  CHECK(marked() == 1);
  bool first = true;  // the one marked is the first convolution of the forward pass
  for_each_module(*model, [&](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
      CHECK(conv->options().wide_sums == first);
      first = false;
    }
  });
}
