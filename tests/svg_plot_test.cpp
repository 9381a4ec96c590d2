// SVG charts: escaping, one polyline per series, staircase points, empty input.
#include <catch2/catch.hpp>

#include "apps/progress.h"
#include "apps/svg_plot.h"
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

TEST_CASE("durations print as m:ss or h:mm:ss", "[svg]") {
  CHECK(format_duration(5) == "0:05");
  CHECK(format_duration(125) == "2:05");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-3) == "0:00");
}
