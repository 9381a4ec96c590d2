// Weight level counting: a value is on the grid when it equals grid_value(s) exactly for a
// grid state s (the DST path writes only such values; anything else is reported off grid).
#include "apps/train/weight_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "layers/quant/pow2_activation.h"

namespace lowbit {

std::vector<double> grid_levels(const DstSpec& spec) {
  std::vector<double> positive;
  for (int s = 1; s <= max_grid_state(spec); s *= 2)
    positive.push_back(std::ldexp(1.0, spec.min_exp) * s);
  std::vector<double> levels;
  for (auto it = positive.rbegin(); it != positive.rend(); ++it) levels.push_back(-*it);
  levels.push_back(0.0);
  levels.insert(levels.end(), positive.begin(), positive.end());
  return levels;
}

namespace {

// The index of `w` in the ascending levels, or -1 when w is not exactly one of them.
int level_index(float w, const DstSpec& spec, int levels_per_sign) {
  if (w == 0.0f) return levels_per_sign;
  const float scaled =
      std::ldexp(std::fabs(w), -spec.min_exp);  // |w| / 2^p: a power of two on the grid
  const float exponent = std::log2(scaled);
  const int e = static_cast<int>(std::lround(exponent));
  if (e < 0 || e >= levels_per_sign || std::ldexp(1.0f, e) != scaled) return -1;
  return w > 0 ? levels_per_sign + 1 + e : levels_per_sign - 1 - e;
}

void add_into(WeightLayerReport& total, const WeightLayerReport& layer) {
  total.elements += layer.elements;
  total.nonzero += layer.nonzero;
  total.off_grid += layer.off_grid;
  for (size_t i = 0; i < layer.level_counts.size(); ++i)
    total.level_counts[i] += layer.level_counts[i];
}

}  // namespace

WeightReport weight_report(const Module& model, const DstSpec& spec,
                           const std::set<std::string>& float_layers) {
  WeightReport report;
  report.levels = grid_levels(spec);
  const int per_sign = static_cast<int>(report.levels.size() / 2);
  report.total.name = "total";
  report.total.level_counts.assign(report.levels.size(), 0);
  for (const Parameter& p : model.parameters()) {
    if (p.role != ParamRole::kWeight || (p.tensor.rank() != 2 && p.tensor.rank() != 4)) continue;
    WeightLayerReport layer;
    layer.name = p.name;
    layer.shape = p.tensor.shape();
    layer.elements = p.tensor.numel();
    layer.level_counts.assign(report.levels.size(), 0);
    layer.is_float = float_layers.count(p.name) > 0;
    const float* w = p.tensor.data();
    for (int64_t i = 0; i < layer.elements; ++i) {
      layer.nonzero += w[i] != 0.0f;
      if (layer.is_float) continue;
      const int k = level_index(w[i], spec, per_sign);
      if (k < 0) {
        ++layer.off_grid;
      } else {
        ++layer.level_counts[static_cast<size_t>(k)];
      }
    }
    add_into(report.total, layer);
    report.layers.push_back(std::move(layer));
  }
  return report;
}

std::string dims_text(const Shape& shape) {
  std::string text;
  for (int d = 0; d < shape.rank(); ++d) text += (d ? "x" : "") + std::to_string(shape[d]);
  return text;
}

namespace {

std::string level_name(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::vector<NormScaleReport> norm_scale_report(const Module& model) {
  std::vector<NormScaleReport> out;
  for (const Parameter& p : model.parameters()) {
    if (p.role != ParamRole::kNormScale || p.tensor.numel() == 0) continue;
    NormScaleReport r{p.name, p.tensor.numel(), 0.0, INFINITY, 0.0};
    for (int64_t i = 0; i < r.channels; ++i) {
      const double a = std::fabs(static_cast<double>(p.tensor.data()[i]));
      r.mean_abs += a;
      r.min_abs = std::min(r.min_abs, a);
      r.max_abs = std::max(r.max_abs, a);
    }
    r.mean_abs /= static_cast<double>(r.channels);
    out.push_back(r);
  }
  return out;
}

std::vector<ActivationScaleReport> activation_scale_report(const Module& model) {
  std::vector<ActivationScaleReport> out;
  // Parents first, children in registration order: the order of the forward pass.
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m,
                                                                    const std::string& path) {
    const auto* activation = dynamic_cast<const Pow2Activation*>(&m);
    if (activation != nullptr && activation->spec().scale != Pow2Scale::kFixed) {
      const double trained = activation->parameters().at(0).tensor.data()[0];
      const bool rounded = activation->spec().scale == Pow2Scale::kTrainedPow2;
      out.push_back({path, trained, rounded ? std::exp2(std::round(std::log2(trained))) : trained});
    }
    for (const auto& [name, child] : m.children())
      walk(*child, path.empty() ? name : path + "." + name);
  };
  walk(model, "");
  return out;
}

std::string format_activation_scale_report(const std::vector<ActivationScaleReport>& report) {
  if (report.empty()) return "";
  std::string out = "\nactivation scales (levels times the trained factor)\n";
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-40s %10s %10s\n", "activation", "trained", "used");
  out += buf;
  for (const ActivationScaleReport& r : report) {
    std::snprintf(buf, sizeof buf, "  %-40s %10.4f %10.4f\n", r.name.c_str(), r.trained, r.used);
    out += buf;
  }
  return out;
}

std::string format_norm_scale_report(const std::vector<NormScaleReport>& report) {
  if (report.empty()) return "";
  std::string out = "\nbatch-norm scales |gamma|\n";
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-40s %8s %8s %8s %8s\n", "layer", "channels", "mean", "min",
                "max");
  out += buf;
  for (const NormScaleReport& r : report) {
    std::snprintf(buf, sizeof buf, "  %-40s %8lld %8.3f %8.3f %8.3f\n", r.name.c_str(),
                  static_cast<long long>(r.channels), r.mean_abs, r.min_abs, r.max_abs);
    out += buf;
  }
  return out;
}

std::string format_weight_report(const WeightReport& r) {
  std::string out;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-34s %-16s %10s %9s %9s", "layer", "shape", "elements",
                "nonzero", "off-grid");
  out += buf;
  for (double v : r.levels) {
    std::snprintf(buf, sizeof buf, " %9s", level_name(v).c_str());
    out += buf;
  }
  out += "\n";
  auto row = [&](const WeightLayerReport& l) {
    const std::string off_grid = l.is_float ? "float" : std::to_string(l.off_grid);
    std::snprintf(buf, sizeof buf, "%-34s %-16s %10lld %8.2f%% %9s", l.name.c_str(),
                  l.name == "total" ? "" : dims_text(l.shape).c_str(),
                  static_cast<long long>(l.elements), 100.0 * l.nonzero_fraction(),
                  off_grid.c_str());
    out += buf;
    for (int64_t c : l.level_counts) {
      std::snprintf(buf, sizeof buf, " %9s", l.is_float ? "-" : std::to_string(c).c_str());
      out += buf;
    }
    out += "\n";
  };
  for (const WeightLayerReport& l : r.layers) row(l);
  row(r.total);
  return out;
}

std::string weight_report_csv(const WeightReport& r) {
  std::string out = "layer,shape,elements,nonzero_fraction,off_grid";
  for (double v : r.levels) out += "," + level_name(v);
  out += "\n";
  char buf[96];
  auto row = [&](const WeightLayerReport& l) {
    const std::string shape = l.name == "total" ? "" : dims_text(l.shape);
    std::snprintf(buf, sizeof buf, ",%lld,%.6f,", static_cast<long long>(l.elements),
                  l.nonzero_fraction());
    out += l.name + "," + shape + buf + (l.is_float ? "float" : std::to_string(l.off_grid));
    for (int64_t c : l.level_counts) out += "," + (l.is_float ? std::string() : std::to_string(c));
    out += "\n";
  };
  for (const WeightLayerReport& l : r.layers) row(l);
  row(r.total);
  return out;
}

}  // namespace lowbit
