// Float statistics of a network's weight tensors, for the layers that are not on the power-of-two
// grid: every layer of a float model, the float layers (by default the first) of a grid model.
// Per layer: min, max, mean, standard deviation, share of non-zeros, and a histogram that
// lowbit-report draws as one SVG of small panels.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/shape.h"
#include "layers/module.h"

namespace lowbit {

struct WeightStats {
  std::string name;
  Shape shape;
  int64_t elements = 0, nonzero = 0;
  double min = 0, max = 0, mean = 0, std = 0;  // std: the population standard deviation
  std::vector<int64_t> histogram;              // kWeightHistogramBins bins over [-range, range]
  double range = 0;                            // max |w| (the histogram's half width)
};

constexpr int kWeightHistogramBins = 41;

// The statistics of every weight tensor (role weight, rank 2 or 4) of `model` whose name is not in
// `grid_names`, in registration order.
std::vector<WeightStats> weight_stats(const Module& model, const std::set<std::string>& grid_names);

// An aligned text table (layer, shape, elements, nonzero, min, max, mean, std) and the same as CSV.
std::string format_weight_stats(const std::vector<WeightStats>& stats);
std::string weight_stats_csv(const std::vector<WeightStats>& stats);

// One histogram panel per layer (counts on a linear axis, 0 marked), titled with the layer's name.
std::string weight_histograms_svg(const std::vector<WeightStats>& stats, const std::string& title);

}  // namespace lowbit
