// Box plots and stacked histograms as SVG text.
#include "apps/ptq/ptq_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "apps/common/svg_plot.h"

namespace lowbit {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

}  // namespace

std::string svg_box_plots(const std::vector<BoxPanel>& panels, const std::string& title) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  size_t channels = 1;
  for (const BoxPanel& p : panels) {
    channels = std::max(channels, p.channels.size());
    for (const FiveNumbers& f : p.channels) lo = std::min(lo, f.min), hi = std::max(hi, f.max);
  }
  if (!std::isfinite(lo)) lo = -1, hi = 1;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  const int panel_height = 190, top_margin = 36;
  const int width = std::max(640, 90 + static_cast<int>(channels) * 10);
  const int height =
      top_margin + panel_height * static_cast<int>(std::max<size_t>(panels.size(), 1)) + 30;
  const double left = 70, right = width - 20.0;
  std::string svg = svg_open(width, height) + svg_text(width / 2.0, 22, title, "middle", 15);
  char buf[512];
  for (size_t k = 0; k < panels.size(); ++k) {
    const double top = top_margin + panel_height * static_cast<double>(k) + 18,
                 bottom = top + panel_height - 40;
    auto py = [&](double v) { return bottom - (v - lo) / (hi - lo) * (bottom - top); };
    svg += svg_text(left, top - 5, panels[k].title, "start", 13);
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                  "stroke=\"#444\"/>\n",
                  left, top, right - left, bottom - top);
    svg += buf;
    for (double t : {lo + pad, 0.0, hi - pad}) {  // the data range's ends and zero
      if (t < lo || t > hi) continue;
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                    left, py(t), right, py(t));
      svg += buf + svg_text(left - 6, py(t) + 4, number(t), "end");
    }
    const size_t n = panels[k].channels.size();
    const double slot = (right - left) / static_cast<double>(std::max<size_t>(n, 1));
    const double half = std::max(1.0, std::min(6.0, slot * 0.35));
    for (size_t c = 0; c < n; ++c) {
      const FiveNumbers& f = panels[k].channels[c];
      const double x = left + slot * (static_cast<double>(c) + 0.5);
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\"/>"
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#9ecae1\" "
                    "stroke=\"#1f77b4\"/>"
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
                    "stroke-width=\"2\"/>\n",
                    x, py(f.max), x, py(f.min), x - half, py(f.q3), 2 * half,
                    std::max(0.5, py(f.q1) - py(f.q3)), x - half, py(f.median), x + half,
                    py(f.median));
      svg += buf;
    }
    svg += svg_text((left + right) / 2, bottom + 16, "channel (" + std::to_string(n) + ")");
  }
  return svg + "</svg>\n";
}

std::string svg_histograms(const std::vector<HistogramPanel>& panels, const std::string& title) {
  const int width = 640, panel_height = 220, top_margin = 30;
  const int height =
      top_margin + panel_height * static_cast<int>(std::max<size_t>(panels.size(), 1));
  std::string svg = svg_open(width, height) + svg_text(width / 2.0, 20, title, "middle", 15);
  for (size_t k = 0; k < panels.size(); ++k) {
    const Histogram& h = panels[k].histogram;
    PlotSeries s{panels[k].title, {}, {}, true};
    const size_t bins = h.counts.size();
    const double width_of_bin = bins ? (h.hi - h.lo) / static_cast<double>(bins) : 1;
    for (size_t b = 0; b <= bins; ++b) {  // the staircase: each bin's count from its left edge on
      s.x.push_back(h.lo + width_of_bin * static_cast<double>(b));
      s.y.push_back(static_cast<double>(h.counts[std::min(b, bins - 1)]));
    }
    PlotOptions o{panels[k].title, "value", "count", width, panel_height};
    const std::string chart = svg_line_chart({s}, o);
    svg += "<g transform=\"translate(0," +
           std::to_string(top_margin + panel_height * static_cast<int>(k)) + ")\">" +
           chart.substr(chart.find("<svg")) + "</g>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace lowbit
