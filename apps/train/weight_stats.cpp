// Weight statistics in double, one pass for the moments and one for the histogram.
#include "apps/train/weight_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/common/svg_plot.h"
#include "apps/train/weight_report.h"

namespace lowbit {

std::vector<WeightStats> weight_stats(const Module& model,
                                      const std::set<std::string>& grid_names) {
  std::vector<WeightStats> out;
  for (const Parameter& p : model.parameters()) {
    if (p.role != ParamRole::kWeight || (p.tensor.rank() != 2 && p.tensor.rank() != 4)) continue;
    if (grid_names.count(p.name) > 0 || p.tensor.numel() == 0) continue;
    WeightStats s;
    s.name = p.name;
    s.shape = p.tensor.shape();
    s.elements = p.tensor.numel();
    const float* w = p.tensor.data();
    s.min = s.max = w[0];
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < s.elements; ++i) {
      const double v = w[i];
      s.nonzero += v != 0.0;
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
      sum += v;
    }
    s.mean = sum / static_cast<double>(s.elements);
    for (int64_t i = 0; i < s.elements; ++i) sum_sq += (w[i] - s.mean) * (w[i] - s.mean);
    s.std = std::sqrt(sum_sq / static_cast<double>(s.elements));
    s.range = std::max(std::fabs(s.min), std::fabs(s.max));
    s.histogram.assign(kWeightHistogramBins, 0);
    for (int64_t i = 0; i < s.elements; ++i) {
      // Bin b covers [-range + b width, -range + (b + 1) width); the top edge belongs to the last
      // bin.
      const double position = s.range > 0 ? (w[i] + s.range) / (2 * s.range) * kWeightHistogramBins
                                          : kWeightHistogramBins / 2;
      const int bin = std::min(kWeightHistogramBins - 1, std::max(0, static_cast<int>(position)));
      ++s.histogram[static_cast<size_t>(bin)];
    }
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

double nonzero_percent(const WeightStats& s) {
  return s.elements ? 100.0 * static_cast<double>(s.nonzero) / static_cast<double>(s.elements)
                    : 0.0;
}

}  // namespace

std::string format_weight_stats(const std::vector<WeightStats>& stats) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-34s %-16s %10s %9s %10s %10s %10s %10s\n", "layer", "shape",
                "elements", "nonzero", "min", "max", "mean", "std");
  out += buf;
  for (const WeightStats& s : stats) {
    std::snprintf(buf, sizeof buf, "%-34s %-16s %10lld %8.2f%% %10.4f %10.4f %10.5f %10.5f\n",
                  s.name.c_str(), dims_text(s.shape).c_str(), static_cast<long long>(s.elements),
                  nonzero_percent(s), s.min, s.max, s.mean, s.std);
    out += buf;
  }
  return out;
}

std::string weight_stats_csv(const std::vector<WeightStats>& stats) {
  std::string out = "layer,shape,elements,nonzero_fraction,min,max,mean,std\n";
  char buf[192];
  for (const WeightStats& s : stats) {
    std::snprintf(buf, sizeof buf, ",%lld,%.6f,%.6g,%.6g,%.6g,%.6g\n",
                  static_cast<long long>(s.elements), nonzero_percent(s) / 100.0, s.min, s.max,
                  s.mean, s.std);
    out += s.name + "," + dims_text(s.shape) + buf;
  }
  return out;
}

std::string weight_histograms_svg(const std::vector<WeightStats>& stats, const std::string& title) {
  constexpr int kColumns = 4, kPanelWidth = 220, kPanelHeight = 150, kTop = 40;
  constexpr int kPlotLeft = 12, kPlotRight = 12, kPlotTop = 22, kPlotBottom = 30;
  const int count = static_cast<int>(stats.size());
  const int rows = std::max(1, (count + kColumns - 1) / kColumns);
  const int width = kColumns * kPanelWidth, height = kTop + rows * kPanelHeight;
  std::string svg = svg_open(width, height);
  svg += svg_text(width / 2.0, 24, title, "middle", 14);
  char buf[256];
  for (int k = 0; k < count; ++k) {
    const WeightStats& s = stats[static_cast<size_t>(k)];
    const double x0 = (k % kColumns) * kPanelWidth + kPlotLeft,
                 y0 = kTop + (k / kColumns) * kPanelHeight + kPlotTop;
    const double plot_width = kPanelWidth - kPlotLeft - kPlotRight,
                 plot_height = kPanelHeight - kPlotTop - kPlotBottom;
    svg += svg_text(x0 + plot_width / 2, y0 - 6, s.name, "middle", 11);
    const int64_t tallest =
        std::max<int64_t>(1, *std::max_element(s.histogram.begin(), s.histogram.end()));
    const double bar = plot_width / kWeightHistogramBins;
    for (int b = 0; b < kWeightHistogramBins; ++b) {
      const double h = plot_height * static_cast<double>(s.histogram[static_cast<size_t>(b)]) /
                       static_cast<double>(tallest);
      if (h <= 0) continue;
      std::snprintf(
          buf, sizeof buf,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"#4477aa\"/>\n",
          x0 + b * bar, y0 + plot_height - h, bar * 0.9, h);
      svg += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                  "stroke-dasharray=\"3,2\"/>\n",
                  x0, y0 + plot_height, x0 + plot_width, y0 + plot_height, x0 + plot_width / 2, y0,
                  x0 + plot_width / 2, y0 + plot_height);
    svg += buf;
    std::snprintf(buf, sizeof buf, "%.3g", -s.range);
    svg += svg_text(x0, y0 + plot_height + 13, buf, "start", 10);
    svg += svg_text(x0 + plot_width / 2, y0 + plot_height + 13, "0", "middle", 10);
    std::snprintf(buf, sizeof buf, "%.3g", s.range);
    svg += svg_text(x0 + plot_width, y0 + plot_height + 13, buf, "end", 10);
    std::snprintf(buf, sizeof buf, "std %.3g, %.1f%% non-zero", s.std, nonzero_percent(s));
    svg += svg_text(x0 + plot_width / 2, y0 + plot_height + 25, buf, "middle", 10);
  }
  return svg + "</svg>\n";
}

}  // namespace lowbit
