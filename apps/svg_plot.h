// A small SVG line-chart writer for the apps' plots (training curves, quantizer levels and
// slopes): axes with ticks, one polyline per series, a legend. Output is self-contained
// SVG 1.1 that any browser opens.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  bool steps = false;  // draw as a staircase (quantizer levels)
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 640, height = 400;
};

std::string svg_line_chart(const std::vector<PlotSeries>& series, const PlotOptions& options);
// Escapes &, <, >, " for XML text and attributes.
std::string xml_escape(const std::string& text);

}  // namespace lowbit
