// The split into grid weights and float parameters: which layers, in which order, for the four
// first/last combinations of Table 4, on lenet5 and resnet18.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "layers/linear.h"
#include "models/model_zoo.h"
#include "models/weight_grid.h"

using namespace lowbit;

namespace {

std::vector<std::string> names(const std::vector<Parameter>& params) {
  std::vector<std::string> out;
  for (const Parameter& p : params) out.push_back(p.name);
  return out;
}

// grid and other partition the model's parameters, in registration order each.
void check_partition(const Module& model, const std::vector<Parameter>& grid, const std::vector<Parameter>& other) {
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
  ModelOptions o;
  o.in_channels = 1;
  o.image_size = 28;
  Rng rng(0);
  auto model = make_model("lenet5", o, rng);
  using Names = std::vector<std::string>;
  CHECK(names(grid_weight_parameters(*model, false, false)) == Names{"3.weight", "7.weight", "9.weight"});
  CHECK(names(grid_weight_parameters(*model, true, false)) == Names{"0.weight", "3.weight", "7.weight", "9.weight"});
  CHECK(names(grid_weight_parameters(*model, false, true)) == Names{"3.weight", "7.weight", "9.weight", "11.weight"});
  CHECK(names(grid_weight_parameters(*model, true, true)) ==
        Names{"0.weight", "3.weight", "7.weight", "9.weight", "11.weight"});
  for (bool first : {false, true}) {
    for (bool last : {false, true}) {
      const std::vector<Parameter> grid = grid_weight_parameters(*model, first, last);
      const std::vector<Parameter> other = other_parameters(*model, grid);
      check_partition(*model, grid, other);
      for (const Parameter& p : other) {
        if (p.role == ParamRole::kWeight) CHECK(((p.name == "0.weight" && !first) || (p.name == "11.weight" && !last)));
      }
    }
  }
  const std::vector<Parameter> other = other_parameters(*model, grid_weight_parameters(*model, false, false));
  CHECK(names(other) == Names{"0.weight", "0.bias", "3.bias", "7.bias", "9.bias", "11.weight", "11.bias"});
}

TEST_CASE("resnet18's grid weights: 20 convolutions and the linear layer", "[weight_grid]") {
  Rng rng(0);
  auto model = make_model("resnet18", ModelOptions{}, rng);
  const std::vector<Parameter> all = grid_weight_parameters(*model, true, true);
  REQUIRE(all.size() == 21);
  CHECK(all.front().name == "stem.0.weight");
  CHECK(all.front().tensor.shape() == Shape({64, 3, 3, 3}));
  CHECK(all.back().name == "fc.weight");
  CHECK(all.back().tensor.shape() == Shape({10, 512}));
  for (size_t i = 0; i + 1 < all.size(); ++i) CHECK(all[i].tensor.rank() == 4);

  const std::vector<Parameter> middle = grid_weight_parameters(*model, false, false);
  REQUIRE(middle.size() == 19);
  CHECK(middle.front().name == "stages.0.0.conv1.weight");
  CHECK(middle.back().name == "stages.3.1.conv2.weight");
  CHECK(grid_weight_parameters(*model, true, false).size() == 20);
  CHECK(grid_weight_parameters(*model, true, false).front().name == "stem.0.weight");
  CHECK(grid_weight_parameters(*model, false, true).size() == 20);
  CHECK(grid_weight_parameters(*model, false, true).back().name == "fc.weight");

  for (bool first : {false, true}) {
    for (bool last : {false, true}) {
      const std::vector<Parameter> grid = grid_weight_parameters(*model, first, last);
      const std::vector<Parameter> other = other_parameters(*model, grid);
      check_partition(*model, grid, other);
      for (const Parameter& p : grid) CHECK(p.role == ParamRole::kWeight);
      int64_t norms = 0;
      for (const Parameter& p : other) norms += p.role == ParamRole::kNormScale || p.role == ParamRole::kNormShift;
      CHECK(norms == 2 * 20);  // every batch norm's scale and shift stays with the base optimizer
    }
  }
  const std::vector<std::string> other = names(other_parameters(*model, middle));
  CHECK(other.front() == "stem.0.weight");
  CHECK(std::count(other.begin(), other.end(), "fc.weight") == 1);
}

TEST_CASE("a single layer is both first and last", "[weight_grid]") {
  Rng rng(0);
  Linear fc(4, 3, true, rng);
  CHECK(grid_weight_parameters(fc, true, true).size() == 1);
  CHECK(grid_weight_parameters(fc, true, false).empty());
  CHECK(grid_weight_parameters(fc, false, true).empty());
  CHECK(other_parameters(fc, {}).size() == 2);
  CHECK(names(other_parameters(fc, grid_weight_parameters(fc, true, true))) == std::vector<std::string>{"bias"});
}
