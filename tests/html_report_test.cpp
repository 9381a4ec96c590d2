// The HTML report and the figures it inlines (apps/common/html_report.h, apps/ptq/ptq_plots.h): the
// XML checker catches what it should, every figure and the page are well-formed XML, the page shows
// each table and figure, and text is escaped.
#include "apps/common/html_report.h"

#include <catch2/catch.hpp>

#include "apps/common/svg_plot.h"
#include "apps/ptq/ptq_plots.h"
#include "apps/train/confusion_report.h"
#include "apps/train/run_log.h"
#include "tests/program_runs.h"

using namespace lowbit;

using testing::count_occurrences;

TEST_CASE("the XML checker accepts well-formed text and names what is wrong", "[html]") {
  CHECK(xml_error("<a/>") == "");
  CHECK(xml_error("<?xml version=\"1.0\"?>\n<!DOCTYPE x>\n<!-- c --><a b=\"1\" c='2'>x &amp; &#60; "
                  "&#x3c;<d/></a>\n") == "");
  CHECK(xml_error("<a>x &gt;</a>") == "");  // an entity right before a tag
  CHECK(xml_error("<a b=\"&amp;\">&lt;&gt;<c/></a>") == "");
  CHECK(xml_error("<a>x &gt;<b></a>").find("</a> closes <b>") != std::string::npos);
  CHECK(xml_error("<a><b></a></b>").find("</a> closes <b>") != std::string::npos);
  CHECK(xml_error("<a>").find("never closed") != std::string::npos);
  CHECK(xml_error("<a>x & y</a>").find("bare '&'") != std::string::npos);
  CHECK(xml_error("<a b=1/>").find("unquoted") != std::string::npos);
  CHECK(xml_error("<a b=\"1\" b=\"2\"/>").find("twice") != std::string::npos);
  CHECK(xml_error("<a b=\"<\"/>").find("'<' in attribute") != std::string::npos);
  CHECK(xml_error("<a/><b/>").find("second root") != std::string::npos);
  CHECK(xml_error("text").find("outside the root") != std::string::npos);
  CHECK(xml_error("").find("no root") != std::string::npos);
  CHECK(xml_error("<a>\n<b>\n</c></a>").rfind("line 3", 0) == 0);
}

TEST_CASE("every figure is well-formed SVG", "[html]") {
  const std::vector<FiveNumbers> channels = {
      {-1, -0.5, 0, 0.5, 1}, {-0.2, -0.1, 0, 0.1, 0.3}, {0, 0, 0, 0, 0}};
  const std::string boxes =
      svg_box_plots({{"float32", channels}, {"sym-3 <&>", channels}}, "layer \"9\"");
  CHECK(xml_error(boxes) == "");
  CHECK(count_occurrences(boxes, "fill=\"#9ecae1\"") == 6);  // one box per channel and panel
  CHECK(boxes.find("sym-3 &lt;&amp;&gt;") != std::string::npos);
  CHECK(xml_error(svg_box_plots({}, "empty")) == "");

  Histogram h{-1, 1, {1, 5, 2, 0}};
  const std::string hist = svg_histograms({{"float32", h}, {"pow2-3", h}}, "histograms");
  CHECK(xml_error(hist) == "");
  CHECK(count_occurrences(hist, "<polyline") == 2);

  const std::string conf =
      svg_confusion({5, 1, 0, 2, 7, 1, 0, 0, 9}, {"cat", "dog", "b&w"}, "float: 84%");
  CHECK(xml_error(conf) == "");
  CHECK(count_occurrences(conf, "<rect x=") == 9);
  CHECK(conf.find("b&amp;w") != std::string::npos);
  CHECK_THROWS(svg_confusion({1, 2, 3}, {"a", "b"}, "bad"));

  std::vector<EpochMetrics> history(3);
  for (int i = 0; i < 3; ++i) history[static_cast<size_t>(i)].epoch = i + 1;
  CHECK(xml_error(training_curves_svg(history, "resnet20")) == "");
  CHECK(xml_error(svg_line_chart({{"a", {0, 1}, {1, 0}, true}}, {"t", "x", "y"})) == "");
}

TEST_CASE("the HTML page is well-formed XML and shows every table and figure", "[html]") {
  HtmlTable accuracy{"accuracy <Table 1>",
                     {"scheme", "FP-32", "3-bit"},
                     {{"sym", "90.87", "88.93"}, {"asym", "90.87", "85.93"}}};
  const HtmlTable csv =
      html_table_from_csv("levels", "scheme,bits,layer\npow2,3,conv1.weight\npow2,2,\n");
  CHECK(csv.header == std::vector<std::string>{"scheme", "bits", "layer"});
  REQUIRE(csv.rows.size() == 2);
  CHECK(csv.rows[1] == std::vector<std::string>{"pow2", "2", ""});
  std::vector<EpochMetrics> history(2);
  history[1].epoch = 2;
  const std::string page = html_report(
      "lowbit & co",
      {{"Accuracy", {"a < b"}, {accuracy}, {}},
       {"Levels",
        {},
        {csv},
        {training_curves_svg(history, "curves"), svg_confusion({1, 0, 0, 1}, {"a", "b"}, "c")}}});
  INFO(page);
  CHECK(xml_error(page) == "");
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count_occurrences(page, "<table>") == 2);
  CHECK(count_occurrences(page, "<caption>") == 2);
  CHECK(page.find("accuracy &lt;Table 1&gt;") != std::string::npos);
  CHECK(page.find("<td>88.93</td>") != std::string::npos);
  CHECK(page.find("<td>conv1.weight</td>") != std::string::npos);
  CHECK(count_occurrences(page, "<svg") == 4);  // the curves nest two charts in one figure
  CHECK(count_occurrences(page, "<figure>") == 2);
  CHECK(page.find("<?xml") == std::string::npos);  // prologs dropped when inlined
  CHECK(page.find("lowbit &amp; co") != std::string::npos);
  CHECK(page.find("href=\"#s2\"") != std::string::npos);
}
