// The confusion matrix shown to people (apps/train/confusion_report.h): the heat map's cells and
// labels, the per-class table cell by cell, and the report section for a present, an absent,
// a malformed and a mismatched test_confusion.csv.
#include "apps/train/confusion_report.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/program_runs.h"
#include "tests/temp_root.h"

using namespace lowbit;
using testing::count_occurrences;

namespace {

ConfusionMatrix three_classes() { return {{"cat", "dog", "b&w"}, {5, 1, 0, 2, 7, 1, 0, 0, 9}}; }

const testing::TempRoot temp_root("lowbit_confusion_report_test");

}  // namespace

TEST_CASE("the heat map has a cell per count, white text on dark cells, and room for long names",
          "[confusion]") {
  const ConfusionMatrix m = three_classes();
  const std::string svg = svg_confusion(m.counts, m.class_names, "84%");
  CHECK(xml_error(svg) == "");
  CHECK(count_occurrences(svg, "<rect x=") == 9);
  // Shares of their rows above one half: 5/6, 7/10 and 9/9.
  CHECK(count_occurrences(svg, "fill=\"white\">") == 3);
  CHECK(svg.find("fill=\"rgb(0,0,255)\"") != std::string::npos);      // 9 of 9
  CHECK(svg.find("fill=\"rgb(255,255,255)\"") != std::string::npos);  // 0 of 6
  CHECK(svg.find("b&amp;w") != std::string::npos);
  CHECK(svg.find("width=\"360\"") != std::string::npos);  // three short names: the narrowest figure
  // Ten Fashion-MNIST-like names of up to 11 characters widen the figure beyond the cells.
  std::vector<std::string> long_names(10, "Ankle boot!");
  const std::string wide = svg_confusion(std::vector<int64_t>(100, 1), long_names, "t");
  CHECK(wide.find("width=\"504\" height=\"468\"") !=
        std::string::npos);  // 100 + 10 * 34 + 64, 50 + 340 + 78
  CHECK_THROWS_WITH(svg_confusion({1, 2, 3}, {"a", "b"}, "bad"),
                    Catch::Contains("3 counts for 2 classes"));
}

TEST_CASE(
    "the per-class table gives each class's images, correct ones, accuracy and worst confusion",
    "[confusion]") {
  const HtmlTable t = class_accuracy_table(three_classes());
  CHECK(t.header == std::vector<std::string>{"class", "images", "correct", "accuracy",
                                             "most often mistaken for"});
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[0] == std::vector<std::string>{"cat", "6", "5", "83.33%", "dog (1 image)"});
  CHECK(t.rows[1] == std::vector<std::string>{"dog", "10", "7", "70.00%", "cat (2 images)"});
  CHECK(t.rows[2] == std::vector<std::string>{"b&w", "9", "9", "100.00%", "none"});
}

TEST_CASE(
    "the test-set section reads test_confusion.csv, and says so in one line when it is absent",
    "[confusion]") {
  const std::filesystem::path dir = temp_root.fresh("section");
  const std::string path = (dir / "test_confusion.csv").string();

  const HtmlSection absent = test_confusion_section(path, 3);
  CHECK(absent.heading == "Test set");
  REQUIRE(absent.paragraphs.size() == 1);
  CHECK(absent.paragraphs[0] ==
        "No confusion matrix: " + path +
            " is absent (lowbit-train writes it when a run has finished all its epochs).");
  CHECK(absent.tables.empty());
  CHECK(absent.figures.empty());

  std::ofstream(path) << confusion_csv(three_classes());
  const HtmlSection present = test_confusion_section(path, 3);
  REQUIRE(present.paragraphs.size() == 1);
  CHECK(present.paragraphs[0] ==
        "The final model on the test split (" + path + "): 84.00% of 25 images.");
  REQUIRE(present.tables.size() == 1);
  CHECK(present.tables[0].rows.size() == 3);
  REQUIRE(present.figures.size() == 1);
  CHECK(present.figures[0].find("test set: 84.00% correct") != std::string::npos);
  const std::string page = html_report("run", {present, absent});
  CHECK(xml_error(page) == "");
  CHECK(count_occurrences(page, "<svg") == 1);

  CHECK_THROWS_WITH(test_confusion_section(path, 10),
                    path + ": 3 classes; expected 10, the classes of the run's data set");
  std::ofstream(path) << "true\\predicted,cat,dog\ncat,1,x\ndog,0,1\n";
  CHECK_THROWS_WITH(
      test_confusion_section(path, 2),
      path + ": line 2, column 3 is \"x\"; expected a count (a non-negative integer)");
}
