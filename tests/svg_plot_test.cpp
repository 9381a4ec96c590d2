// SVG charts: escaping, one polyline per series, staircase points, markers on few points, the
// legend's corner, whole x ticks, empty input.
#include "apps/common/svg_plot.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "apps/common/progress.h"
#include "tests/program_runs.h"

using namespace lowbit;

using testing::count_occurrences;

TEST_CASE("a chart has one polyline per series and escapes its text", "[svg]") {
  PlotSeries a{"loss <train>", {0, 1, 2}, {3, 2, 1}, false};
  PlotSeries b{"levels & steps", {0, 1, 2}, {0, 1, 1}, true};
  const std::string svg = svg_line_chart({a, b}, {"title \"q\"", "x", "y", 400, 300});
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count_occurrences(svg, "<polyline") == 2);
  CHECK(svg.find("loss &lt;train&gt;") != std::string::npos);
  CHECK(svg.find("levels &amp; steps") != std::string::npos);
  CHECK(svg.find("title &quot;q&quot;") != std::string::npos);
  CHECK(svg.find("<train>") == std::string::npos);
  // The staircase adds one corner point per step: 3 + 2 points.
  const size_t start = svg.rfind("points=\"");
  const std::string points = svg.substr(start, svg.find('"', start + 8) - start);
  CHECK(count_occurrences(points, ",") == 5);
  CHECK(svg_line_chart({}, {}).find("</svg>") != std::string::npos);
}

TEST_CASE("a series of few points marks each point, so that a single point shows", "[svg]") {
  // One epoch: a polyline of one point draws nothing, the marker does.
  const std::string one =
      svg_line_chart({{"loss", {1}, {0.5}, false}}, {"t", "epoch", "y", 400, 300});
  CHECK(count_occurrences(one, "<circle") == 1);
  // The point sits in the middle of the plot area (x 70..380, y 40..250).
  CHECK(one.find("<circle cx=\"225.00\" cy=\"145.00\"") != std::string::npos);
  PlotSeries many{"many", {}, {}, false};
  for (size_t i = 0; i <= kMarkedPoints; ++i)
    many.x.push_back(static_cast<double>(i)), many.y.push_back(1.0 * i);
  CHECK(count_occurrences(svg_line_chart({many}, {}), "<circle") == 0);
  many.x.pop_back(), many.y.pop_back();
  CHECK(count_occurrences(svg_line_chart({many}, {}), "<circle") == kMarkedPoints);
  // A staircase's points are corners, not values: no markers; nor for a value that is not finite.
  CHECK(count_occurrences(svg_line_chart({{"s", {0, 1}, {0, 1}, true}}, {}), "<circle") == 0);
  CHECK(count_occurrences(svg_line_chart({{"a", {0, 1}, {1, NAN}, false}}, {}), "<circle") == 1);
}

TEST_CASE("the legend sits in the corner that covers the fewest points", "[svg]") {
  PlotSeries falling{"loss", {}, {}, false}, rising{"loss", {}, {}, false};
  for (int i = 1; i <= 10; ++i) {
    falling.x.push_back(i), falling.y.push_back(11 - i);
    rising.x.push_back(i), rising.y.push_back(i);
  }
  const PlotOptions o{"t", "epoch", "y", 400, 300};  // plot area x 70..380, y 40..250
  // A legend of one four-letter name is 72 x 24, 4 pixels in from the corner.
  CHECK(svg_line_chart({falling}, o)
            .find("<rect x=\"304.0\" y=\"44.0\" width=\"72.0\" height=\"24.0\"") !=
        std::string::npos);
  CHECK(svg_line_chart({rising}, o)
            .find("<rect x=\"74.0\" y=\"44.0\" width=\"72.0\" height=\"24.0\"") !=
        std::string::npos);
  CHECK(svg_line_chart({}, o).find("fill-opacity") == std::string::npos);  // no series, no legend
}

TEST_CASE("min_x_step keeps whole epochs on the axis of a short run", "[svg]") {
  PlotOptions o{"t", "epoch", "y", 400, 300};
  // One epoch spans 0.5..1.5: ticks every 0.2 by default, only the 1 with whole steps.
  CHECK(svg_line_chart({{"a", {1}, {2}, false}}, o).find(">0.8</text>") != std::string::npos);
  o.min_x_step = 1;
  const std::string whole = svg_line_chart({{"a", {1}, {2}, false}}, o);
  CHECK(whole.find(">0.8</text>") == std::string::npos);
  CHECK(whole.find("text-anchor=\"middle\">1</text>") != std::string::npos);
}

TEST_CASE("durations print as m:ss or h:mm:ss", "[svg]") {
  CHECK(format_duration(5) == "0:05");
  CHECK(format_duration(125) == "2:05");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-3) == "0:00");
}
