// The split of a model's parameters into grid weights and float parameters.
#include "models/transforms/weight_grid.h"

#include <algorithm>

#include "layers/conv2d.h"
#include "models/module_paths.h"

namespace lowbit {
namespace {

bool is_layer_weight(const Parameter& p) {
  return p.role == ParamRole::kWeight && (p.tensor.rank() == 2 || p.tensor.rank() == 4);
}

}  // namespace

std::vector<Parameter> grid_weight_parameters(const Module& model, bool quantize_first,
                                              bool quantize_last) {
  std::vector<Parameter> weights;
  for (const Parameter& p : model.parameters()) {
    if (is_layer_weight(p)) weights.push_back(p);
  }
  const size_t n = weights.size();
  std::vector<Parameter> out;
  for (size_t i = 0; i < n; ++i) {
    const bool first = i == 0, last = i + 1 == n;
    // A layer that is both first and last is left out unless both flags ask for it.
    if ((first && !quantize_first) || (last && !quantize_last)) continue;
    out.push_back(weights[i]);
  }
  return out;
}

int use_exact_sums(Module& model, const std::vector<Parameter>& grid) {
  int count = 0;
  for_each_module(model, [&](Module& m) {
    auto* conv = dynamic_cast<Conv2d*>(&m);
    if (conv == nullptr) return;
    const bool on_grid = std::any_of(grid.begin(), grid.end(), [&](const Parameter& g) {
      return g.tensor.impl() == conv->weight().impl();
    });
    if (!on_grid) return;
    conv->set_exact_sums(true);
    ++count;
  });
  return count;
}

int use_wide_sums(Module& model, const std::vector<Parameter>& grid) {
  std::vector<Parameter> weights;
  for (const Parameter& p : model.parameters())
    if (is_layer_weight(p)) weights.push_back(p);
  if (weights.empty()) return 0;
  const auto& first = weights.front().tensor;
  const bool on_grid = std::any_of(grid.begin(), grid.end(), [&](const Parameter& g) {
    return g.tensor.impl() == first.impl();
  });
  if (on_grid) return 0;
  int count = 0;
  for_each_module(model, [&](Module& m) {
    auto* conv = dynamic_cast<Conv2d*>(&m);
    if (conv == nullptr || conv->weight().impl() != first.impl()) return;
    conv->set_wide_sums(true);
    ++count;
  });
  return count;
}

std::vector<Parameter> other_parameters(const Module& model, const std::vector<Parameter>& grid) {
  std::vector<Parameter> out;
  for (const Parameter& p : model.parameters()) {
    const bool on_grid = std::any_of(grid.begin(), grid.end(), [&](const Parameter& g) {
      return g.tensor.impl() == p.tensor.impl();
    });
    if (!on_grid) out.push_back(p);
  }
  return out;
}

}  // namespace lowbit
