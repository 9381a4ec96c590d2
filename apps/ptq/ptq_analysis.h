// What post-training quantization does to a network, as the bit-efficient quantization
// paper looks at it: per-channel quartile ranges of a layer (Figure 1), weight histograms
// (Figure 2), the distinct power-of-two levels per layer and their average ("average
// bit-levels", Tables 1 and 3c), and accuracy with overlapping classes grouped (Table 2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/train/evaluate.h"
#include "core/tensor.h"
#include "models/transforms/ptq_model.h"

namespace lowbit {

// Minimum, quartiles, median and maximum; quartiles interpolate linearly between order
// statistics (position p (n - 1) in the sorted values, numpy's default).
struct FiveNumbers {
  double min = 0, q1 = 0, median = 0, q3 = 0, max = 0;
};
FiveNumbers five_numbers(std::vector<float> values);
// One FiveNumbers per output channel (dim 0) of a kernel; a 1-D tensor is one channel.
std::vector<FiveNumbers> channel_ranges(const Tensor& t);

// `bins` equal bins over [lo, hi]; values outside go to the end bins.
struct Histogram {
  double lo = 0, hi = 0;
  std::vector<int64_t> counts;
};
Histogram histogram(const float* x, int64_t n, double lo, double hi, int bins);

// Bit-levels of a tensor: ceil(log2(distinct values)), the bits an index into the levels it
// actually uses needs (0 for a single value).
int bit_levels(int64_t distinct);

// The distinct-level count of every quantized kernel (conv and dense weights) and its average.
struct LayerLevels {
  std::string name;
  int64_t elements = 0, distinct = 0;
  int bit_levels = 0;
};
struct LevelSummary {
  std::vector<LayerLevels> layers;
  double average_bit_levels = 0;   // mean of bit_levels over the layers (each layer counts once)
  double weighted_bit_levels = 0;  // mean weighted by the layers' element counts
};
LevelSummary level_summary(const PtqModelResult& quantized);

// Classes merged into one for scoring (--merge-classes cat,dog): a prediction of any class
// of a group counts as right for an image of any class of the group.
struct ClassGroup {
  std::string name;              // "cat+dog"
  std::vector<int64_t> classes;  // class indices
};
// "cat,dog" by class name (or index); unknown names and classes in two groups are errors
// that list the class names.
ClassGroup parse_class_group(const std::string& text, const std::vector<std::string>& class_names);
void check_disjoint(const std::vector<ClassGroup>& groups);

struct GroupedAccuracy {
  double accuracy = 0;                 // percent, over all images, with the groups merged
  std::vector<double> group_accuracy;  // per group: its images predicted inside the group
};
GroupedAccuracy grouped_accuracy(const Evaluation& evaluation,
                                 const std::vector<ClassGroup>& groups);

// The weight layers of a model under several quantization variants, for Figures 1 and 2:
// every kernel's per-channel ranges and, for the chosen layers, a histogram over
// [-sqrt(2) M, sqrt(2) M] with M the layer's largest float magnitude (pow2 may round M up
// by up to sqrt(2)), the same bins for every variant.
struct WeightVariant {
  std::string label;                             // "float", "sym-3", ...
  std::vector<std::vector<FiveNumbers>> ranges;  // per weight layer, per channel
  std::vector<Histogram> histograms;             // per chosen layer
};
struct WeightAnalysis {
  std::vector<std::string> layers;            // every kernel (conv and dense weight), in order
  std::vector<std::string> histogram_layers;  // the chosen ones
  std::vector<WeightVariant> variants;        // float first, then one per spec
};
// Quantizes `model` once per spec (from its current values, which are restored after) and
// measures it. Unknown layer names: lowbit::Error listing the kernels.
WeightAnalysis analyse_weights(Module& model, const std::vector<PtqSpec>& specs,
                               const PtqTargets& targets,
                               const std::vector<std::string>& histogram_layers, int bins);
// The layer Figure 1 of the paper shows, "the 9th layer": the 9th kernel, or the middle one
// of a model with fewer.
std::string default_analysis_layer(const Module& model);
std::vector<std::string> kernel_names(const Module& model);

// CSV: variant,layer,channel,min,q1,median,q3,max (every kernel, every variant).
std::string ranges_csv(const WeightAnalysis& analysis);
// CSV: variant,layer,bin_lo,bin_hi,count (the histogram layers, every variant).
std::string histograms_csv(const WeightAnalysis& analysis);

}  // namespace lowbit
