// SVG line charts: data ranges padded by 5%, "nice" tick steps of 1, 2 or 5 x 10^k.
#include "apps/common/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lowbit {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

double nice_step(double span, int target_ticks) {
  const double raw = span / std::max(1, target_ticks);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10.0 * magnitude;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string svg_open(int width, int height) {
  char buf[256];
  std::snprintf(
      buf, sizeof buf,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      width, height, width, height);
  return buf;
}

std::string svg_text(double x, double y, const std::string& text, const char* anchor, int size) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">",
                x, y, anchor, size);
  return buf + xml_escape(text) + "</text>\n";
}

std::string svg_line_chart(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const PlotSeries& s : series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;

  const double left = 70, right = o.width - 20.0, top = 40, bottom = o.height - 50.0;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };
  char buf[512];
  std::string svg =
      svg_open(o.width, o.height) + svg_text(o.width / 2.0, 22, o.title, "middle", 15);

  // Grid lines and tick labels.
  const double xs = std::max(nice_step(x1 - x0, 8), o.min_x_step), ys = nice_step(y1 - y0, 6);
  for (double t = std::ceil(x0 / xs) * xs; t <= x1 + 1e-9 * xs; t += xs) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                  px(t), top, px(t), bottom, px(t), bottom + 16, number(t).c_str());
    svg += buf;
  }
  for (double t = std::ceil(y0 / ys) * ys; t <= y1 + 1e-9 * ys; t += ys) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  left, py(t), right, py(t), left - 6, py(t) + 4, number(t).c_str());
    svg += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"#444\"/>\n",
                left, top, right - left, bottom - top);
  svg += buf;
  std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                (left + right) / 2, o.height - 12.0);
  svg += buf + xml_escape(o.x_label) + "</text>\n";
  std::snprintf(
      buf, sizeof buf,
      "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">",
      (top + bottom) / 2, (top + bottom) / 2);
  svg += buf + xml_escape(o.y_label) + "</text>\n";

  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& s = series[k];
    const char* color = kColors[k % (sizeof kColors / sizeof *kColors)];
    std::string points;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      if (s.steps && i > 0) {
        std::snprintf(buf, sizeof buf, "%.2f,%.2f ", px(s.x[i]), py(s.y[i - 1]));
        points += buf;
      }
      std::snprintf(buf, sizeof buf, "%.2f,%.2f ", px(s.x[i]), py(s.y[i]));
      points += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    svg += buf + points + "\"/>\n";
    if (!s.steps && s.x.size() <= kMarkedPoints) {
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        std::snprintf(buf, sizeof buf, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\"/>\n",
                      px(s.x[i]), py(s.y[i]), color);
        svg += buf;
      }
    }
  }
  if (series.empty()) return svg + "</svg>\n";

  // The legend goes in the corner of the plot area that covers the fewest data points (loss
  // curves fall from the top left, accuracy curves rise to the top right), on a background
  // that keeps it readable where it still covers some.
  size_t longest = 0;
  for (const PlotSeries& s : series) longest = std::max(longest, s.name.size());
  const double legend_width = 44 + 7.0 * static_cast<double>(longest),
               legend_height = 8 + 16.0 * series.size();
  double legend_x = left + 4, legend_y = top + 4;
  size_t fewest = std::numeric_limits<size_t>::max();
  for (const bool at_top : {true, false}) {
    for (const bool at_left : {true, false}) {
      const double bx = at_left ? left + 4 : right - 4 - legend_width;
      const double by = at_top ? top + 4 : bottom - 4 - legend_height;
      // Covered: the points and the samples every 4 pixels along the lines between them.
      size_t covered = 0;
      auto inside = [&](double x, double y) {
        return x >= bx && x <= bx + legend_width && y >= by && y <= by + legend_height;
      };
      for (const PlotSeries& s : series) {
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
          if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
          const double x = px(s.x[i]), y = py(s.y[i]);
          covered += inside(x, y);
          if (i == 0 || !std::isfinite(s.x[i - 1]) || !std::isfinite(s.y[i - 1])) continue;
          const double x_before = px(s.x[i - 1]), y_before = py(s.y[i - 1]);
          const int samples = static_cast<int>(std::hypot(x - x_before, y - y_before) / 4);
          for (int j = 1; j < samples; ++j) {
            const double t = static_cast<double>(j) / samples;
            covered += inside(x_before + t * (x - x_before), y_before + t * (y - y_before));
          }
        }
      }
      if (covered < fewest) fewest = covered, legend_x = bx, legend_y = by;
    }
  }
  std::snprintf(buf, sizeof buf,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" "
                "fill-opacity=\"0.85\" "
                "stroke=\"#ccc\"/>\n",
                legend_x, legend_y, legend_width, legend_height);
  svg += buf;
  for (size_t k = 0; k < series.size(); ++k) {
    const double y = legend_y + 12 + 16.0 * static_cast<double>(k);
    std::snprintf(
        buf, sizeof buf,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>"
        "<text x=\"%.1f\" y=\"%.1f\">",
        legend_x + 6, y, legend_x + 26, y, kColors[k % (sizeof kColors / sizeof *kColors)],
        legend_x + 32, y + 4);
    svg += buf + xml_escape(series[k].name) + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace lowbit
