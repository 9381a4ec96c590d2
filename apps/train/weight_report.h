// The per-layer report of a trained network's weights (Table 5 of Long et al. 2020): for
// every convolution and linear weight, its share of non-zeros (1 - sparsity), how many
// elements sit at each level of the power-of-two grid, and how many sit off the grid.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "layers/module.h"
#include "optim/discrete_state_transition.h"

namespace lowbit {

struct WeightLayerReport {
  std::string name;
  Shape shape;
  int64_t elements = 0;
  int64_t nonzero = 0;
  int64_t off_grid = 0;   // elements that are not exactly a grid value
  bool is_float = false;  // a float layer of a grid model: no level counts, not "off the grid"
  std::vector<int64_t> level_counts;  // aligned with grid_levels(spec)
  double nonzero_fraction() const {
    return elements ? static_cast<double>(nonzero) / static_cast<double>(elements) : 0;
  }
};

struct WeightReport {
  std::vector<double> levels;  // -1, -1/2, ..., -2^p, 0, 2^p, ..., 1
  std::vector<WeightLayerReport> layers;
  WeightLayerReport total;  // "total": every layer together
};

// "64x3x3x3": a weight shape without commas, so that it fits a CSV cell as it is.
std::string dims_text(const Shape& shape);

// The values of the grid {0, ±2^p, ..., ±1}, ascending.
std::vector<double> grid_levels(const DstSpec& spec);
// Counts every weight tensor (role weight, rank 2 or 4) of `model` against the grid; the layers
// named in `float_layers` (a grid model's float first layer) are marked float instead, with no
// counts.
WeightReport weight_report(const Module& model, const DstSpec& spec,
                           const std::set<std::string>& float_layers = {});

// The scale of every BatchNorm (its weight, gamma): with the power-of-two activation after it, a
// unit-variance input leaves BN with standard deviation |gamma|, so |gamma| against the
// activation's levels says how much of the layer lands on the top level (docs/ste.md).
struct NormScaleReport {
  std::string name;  // "<dotted module name>.weight"
  int64_t channels = 0;
  double mean_abs = 0, min_abs = 0, max_abs = 0;
};
std::vector<NormScaleReport> norm_scale_report(const Module& model);
// One line per BatchNorm: name, channels, mean / min / max |gamma|; empty when the model has none.
std::string format_norm_scale_report(const std::vector<NormScaleReport>& report);

// The factor of every power-of-two activation whose levels are scaled (--act-scale trained or
// trained-pow2): the trained value and the one the forward uses (rounded to a power of two for
// trained-pow2). Empty for fixed levels.
struct ActivationScaleReport {
  std::string name;  // the activation's module path
  double trained = 0, used = 0;
};
std::vector<ActivationScaleReport> activation_scale_report(const Module& model);
// One line per scaled activation; empty when there is none.
std::string format_activation_scale_report(const std::vector<ActivationScaleReport>& report);

// The report as an aligned text table and as CSV (header:
// layer,shape,elements,nonzero_fraction,off_grid,<levels>); a float layer's off_grid cell says
// "float" and its level cells are empty ("-" in the text table).
std::string format_weight_report(const WeightReport& report);
std::string weight_report_csv(const WeightReport& report);

}  // namespace lowbit
