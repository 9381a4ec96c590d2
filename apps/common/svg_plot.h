// A small SVG line-chart writer for the apps' plots (training curves, quantizer levels and
// slopes): axes with ticks, one polyline per series, a legend. Output is self-contained
// SVG 1.1 that any browser opens.
#pragma once

#include <cstddef>
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
  double min_x_step = 0;  // no x ticks closer than this: 1 for epochs, which have no fractions
};

// Each series is a polyline; a series of kMarkedPoints points or fewer also gets a marker on
// every point, so that a run of one epoch, whose single point makes no line, still shows.
constexpr size_t kMarkedPoints = 30;
std::string svg_line_chart(const std::vector<PlotSeries>& series, const PlotOptions& options);

// The start of a self-contained SVG document, width x height, on a white background; the
// caller closes it with "</svg>\n". Every figure of the apps opens this way.
std::string svg_open(int width, int height);
// A <text> element at (x, y) with the text escaped; anchor is start, middle or end.
std::string svg_text(double x, double y, const std::string& text, const char* anchor = "middle",
                     int size = 12);
// Escapes &, <, >, " for XML text and attributes.
std::string xml_escape(const std::string& text);

}  // namespace lowbit
