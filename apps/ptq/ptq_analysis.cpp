// Range statistics, histograms, level counts and grouped accuracy over finished tensors and
// confusion matrices (no model runs here).
#include "apps/ptq/ptq_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/check.h"

namespace lowbit {

FiveNumbers five_numbers(std::vector<float> v) {
  LOWBIT_CHECK(!v.empty(), "five_numbers: no values");
  std::sort(v.begin(), v.end());
  auto quantile = [&v](double p) {
    const double pos = p * static_cast<double>(v.size() - 1);
    const auto i = static_cast<size_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(i);
    if (i + 1 >= v.size()) return static_cast<double>(v.back());
    return static_cast<double>(v[i]) +
           frac * (static_cast<double>(v[i + 1]) - static_cast<double>(v[i]));
  };
  return FiveNumbers{v.front(), quantile(0.25), quantile(0.5), quantile(0.75), v.back()};
}

std::vector<FiveNumbers> channel_ranges(const Tensor& t) {
  const int64_t channels = t.rank() >= 2 ? t.size(0) : 1;
  const int64_t per = t.numel() / std::max<int64_t>(channels, 1);
  std::vector<FiveNumbers> out;
  for (int64_t c = 0; c < channels; ++c) {
    out.push_back(five_numbers(std::vector<float>(t.data() + c * per, t.data() + (c + 1) * per)));
  }
  return out;
}

Histogram histogram(const float* x, int64_t n, double lo, double hi, int bins) {
  LOWBIT_CHECK(bins >= 1 && hi > lo, "histogram: ", bins, " bins over [", lo, ", ", hi,
               "]; expected at least one bin over a non-empty range");
  Histogram h{lo, hi, std::vector<int64_t>(static_cast<size_t>(bins), 0)};
  const double width = (hi - lo) / bins;
  for (int64_t i = 0; i < n; ++i) {
    const auto b = static_cast<int64_t>(std::floor((x[i] - lo) / width));
    ++h.counts[static_cast<size_t>(std::clamp<int64_t>(b, 0, bins - 1))];
  }
  return h;
}

int bit_levels(int64_t distinct) {
  int b = 0;
  while ((int64_t{1} << b) < distinct) ++b;
  return b;
}

LevelSummary level_summary(const PtqModelResult& quantized) {
  LevelSummary s;
  double sum = 0, weighted = 0;
  int64_t elements = 0;
  for (const PtqTensor& t : quantized.tensors) {
    if (t.role != ParamRole::kWeight) continue;  // quantized weights are kernels
    LayerLevels l{t.name, t.shape.numel(), t.distinct_values, bit_levels(t.distinct_values)};
    sum += l.bit_levels;
    weighted += static_cast<double>(l.bit_levels) * static_cast<double>(l.elements);
    elements += l.elements;
    s.layers.push_back(l);
  }
  if (!s.layers.empty()) {
    s.average_bit_levels = sum / static_cast<double>(s.layers.size());
    s.weighted_bit_levels = weighted / static_cast<double>(elements);
  }
  return s;
}

namespace {

std::string known_classes(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

}  // namespace

ClassGroup parse_class_group(const std::string& text, const std::vector<std::string>& names) {
  ClassGroup g;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    int64_t index = -1;
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == item) index = static_cast<int64_t>(k);
    }
    if (index < 0 && !item.empty() && item.find_first_not_of("0123456789") == std::string::npos) {
      const long long k = std::stoll(item);
      if (k < static_cast<long long>(names.size())) index = k;
    }
    LOWBIT_CHECK(index >= 0, "--merge-classes ", text, ": unknown class '", item,
                 "'; the classes are ", known_classes(names));
    LOWBIT_CHECK(std::find(g.classes.begin(), g.classes.end(), index) == g.classes.end(),
                 "--merge-classes ", text, ": class '", item, "' is named twice");
    g.classes.push_back(index);
    g.name += (g.name.empty() ? "" : "+") + names[static_cast<size_t>(index)];
    start = comma + 1;
  }
  LOWBIT_CHECK(g.classes.size() >= 2, "--merge-classes ", text,
               ": a group needs at least two classes, e.g. cat,dog");
  return g;
}

void check_disjoint(const std::vector<ClassGroup>& groups) {
  std::set<int64_t> seen;
  for (const ClassGroup& g : groups) {
    for (int64_t k : g.classes) {
      LOWBIT_CHECK(seen.insert(k).second, "--merge-classes: class ", k,
                   " is in more than one group (", g.name, ")");
    }
  }
}

GroupedAccuracy grouped_accuracy(const Evaluation& e, const std::vector<ClassGroup>& groups) {
  const int64_t k = e.num_classes;
  std::vector<int64_t> group_of(static_cast<size_t>(k), -1);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (int64_t c : groups[g].classes) {
      LOWBIT_CHECK(c >= 0 && c < k, "grouped_accuracy: class ", c, " of group ", groups[g].name,
                   " is not below ", k);
      group_of[static_cast<size_t>(c)] = static_cast<int64_t>(g);
    }
  }
  // Right: the prediction is the true class, or both lie in the same group.
  int64_t right = 0;
  std::vector<int64_t> in_group(groups.size(), 0), right_in_group(groups.size(), 0);
  for (int64_t t = 0; t < k; ++t) {
    for (int64_t p = 0; p < k; ++p) {
      const int64_t n = e.confusion[static_cast<size_t>(t * k + p)];
      const int64_t gt = group_of[static_cast<size_t>(t)], gp = group_of[static_cast<size_t>(p)];
      const bool ok = t == p || (gt >= 0 && gt == gp);
      right += ok ? n : 0;
      if (gt >= 0) {
        in_group[static_cast<size_t>(gt)] += n;
        right_in_group[static_cast<size_t>(gt)] += ok ? n : 0;
      }
    }
  }
  GroupedAccuracy a;
  a.accuracy = e.count > 0 ? 100.0 * static_cast<double>(right) / static_cast<double>(e.count) : 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    a.group_accuracy.push_back(in_group[g] > 0 ? 100.0 * static_cast<double>(right_in_group[g]) /
                                                     static_cast<double>(in_group[g])
                                               : 0);
  }
  return a;
}

std::vector<std::string> kernel_names(const Module& model) {
  std::vector<std::string> names;
  for (const ModelTensor& m : model_tensors(model)) {
    if (is_kernel(m)) names.push_back(m.name);
  }
  return names;
}

std::string default_analysis_layer(const Module& model) {
  const std::vector<std::string> names = kernel_names(model);
  LOWBIT_CHECK(!names.empty(), "the model has no convolution or dense kernel to analyse");
  return names.size() >= 9 ? names[8] : names[names.size() / 2];
}

WeightAnalysis analyse_weights(Module& model, const std::vector<PtqSpec>& specs,
                               const PtqTargets& targets,
                               const std::vector<std::string>& histogram_layers, int bins) {
  WeightAnalysis a;
  std::vector<Tensor> kernels;
  for (const ModelTensor& m : model_tensors(model)) {
    if (!is_kernel(m)) continue;
    a.layers.push_back(m.name);
    kernels.push_back(m.tensor);
  }
  std::vector<size_t> chosen;
  std::vector<double> range;  // sqrt(2) max|w| of each chosen layer, in float
  for (const std::string& name : histogram_layers) {
    const auto it = std::find(a.layers.begin(), a.layers.end(), name);
    if (it == a.layers.end()) {
      std::string known;
      for (const std::string& l : a.layers) known += (known.empty() ? "" : ", ") + l;
      throw Error(concat("unknown layer '", name, "'; the kernels are ", known));
    }
    const auto k = static_cast<size_t>(it - a.layers.begin());
    chosen.push_back(k);
    a.histogram_layers.push_back(name);
    double m = 0;
    for (int64_t i = 0; i < kernels[k].numel(); ++i)
      m = std::max(m, std::fabs(static_cast<double>(kernels[k].data()[i])));
    range.push_back(m > 0 ? std::sqrt(2.0) * m : 1.0);
  }
  auto measure = [&](const std::string& label) {
    WeightVariant v;
    v.label = label;
    for (const Tensor& t : kernels) v.ranges.push_back(channel_ranges(t));
    for (size_t j = 0; j < chosen.size(); ++j) {
      const Tensor& t = kernels[chosen[j]];
      v.histograms.push_back(histogram(t.data(), t.numel(), -range[j], range[j], bins));
    }
    a.variants.push_back(std::move(v));
  };
  const ModelSnapshot snapshot(model);
  measure("float");
  for (const PtqSpec& spec : specs) {
    ptq_quantize_model(model, spec, targets);
    measure(ptq_spec_label(spec));
    snapshot.restore();
  }
  return a;
}

std::string ranges_csv(const WeightAnalysis& a) {
  std::string out = "variant,layer,channel,min,q1,median,q3,max\n";
  char buf[256];
  for (const WeightVariant& v : a.variants) {
    for (size_t l = 0; l < a.layers.size(); ++l) {
      for (size_t c = 0; c < v.ranges[l].size(); ++c) {
        const FiveNumbers& f = v.ranges[l][c];
        std::snprintf(buf, sizeof buf, ",%zu,%.8g,%.8g,%.8g,%.8g,%.8g\n", c, f.min, f.q1, f.median,
                      f.q3, f.max);
        out += v.label + "," + a.layers[l] + buf;
      }
    }
  }
  return out;
}

std::string histograms_csv(const WeightAnalysis& a) {
  std::string out = "variant,layer,bin_lo,bin_hi,count\n";
  char buf[128];
  for (const WeightVariant& v : a.variants) {
    for (size_t l = 0; l < a.histogram_layers.size(); ++l) {
      const Histogram& h = v.histograms[l];
      const double w = (h.hi - h.lo) / static_cast<double>(h.counts.size());
      for (size_t b = 0; b < h.counts.size(); ++b) {
        std::snprintf(buf, sizeof buf, ",%.8g,%.8g,%lld\n", h.lo + w * static_cast<double>(b),
                      h.lo + w * static_cast<double>(b + 1), static_cast<long long>(h.counts[b]));
        out += v.label + "," + a.histogram_layers[l] + buf;
      }
    }
  }
  return out;
}

}  // namespace lowbit
