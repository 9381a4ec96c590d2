// Heat map, per-class table and the report section of a confusion matrix.
#include "apps/train/confusion_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/svg_plot.h"
#include "core/check.h"

namespace lowbit {

namespace {

// About how wide a character of 12-pixel sans-serif is, to leave room for the class names.
constexpr double kCharWidth = 7.0;

std::string percent(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", value);
  return buf;
}

}  // namespace

std::string svg_confusion(const std::vector<int64_t>& counts, const std::vector<std::string>& names,
                          const std::string& title) {
  const auto k = static_cast<int64_t>(names.size());
  LOWBIT_CHECK(static_cast<int64_t>(counts.size()) == k * k, "svg_confusion: ", counts.size(),
               " counts for ", k, " classes; expected ", k * k);
  size_t longest = 4;
  for (const std::string& n : names) longest = std::max(longest, n.size());
  // Row names sit left of the cells; column names run down at 45 degrees below them, so they
  // need room below and, for the last columns, to the right.
  const double slanted = kCharWidth * static_cast<double>(longest) * 0.71;
  const int cell = 34, top = 50;
  const int left = std::max(100, static_cast<int>(kCharWidth * static_cast<double>(longest)) + 16);
  const int width = std::max(360, left + cell * static_cast<int>(k) +
                                      std::max(20, static_cast<int>(slanted) + 10)),
            height =
                top + cell * static_cast<int>(k) + std::max(60, static_cast<int>(slanted) + 24);
  std::string svg =
      svg_open(width, height) + svg_text(width / 2.0, 20, title, "middle", 14) +
      svg_text(width / 2.0, 38, "rows: true class, columns: predicted class", "middle", 11);
  char buf[320];
  for (int64_t t = 0; t < k; ++t) {
    int64_t row = 0;
    for (int64_t p = 0; p < k; ++p) row += counts[static_cast<size_t>(t * k + p)];
    svg += svg_text(left - 6, top + cell * (static_cast<double>(t) + 0.6),
                    names[static_cast<size_t>(t)], "end");
    for (int64_t p = 0; p < k; ++p) {
      const int64_t n = counts[static_cast<size_t>(t * k + p)];
      const double share = row > 0 ? static_cast<double>(n) / static_cast<double>(row) : 0;
      const int shade = static_cast<int>(std::lround(255 * (1 - share)));
      std::snprintf(
          buf, sizeof buf,
          "<rect x=\"%lld\" y=\"%lld\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" "
          "stroke=\"#fff\"/>\n",
          static_cast<long long>(left + cell * p), static_cast<long long>(top + cell * t), cell,
          cell, shade, shade);
      svg += buf;
      // Black text is unreadable on the darkest blues: white there.
      std::snprintf(
          buf, sizeof buf,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\"%s>%lld</text>\n",
          left + cell * (static_cast<double>(p) + 0.5),
          top + cell * (static_cast<double>(t) + 0.62), share > 0.5 ? " fill=\"white\"" : "",
          static_cast<long long>(n));
      svg += buf;
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    const double x = left + cell * (static_cast<double>(p) + 0.5),
                 y = top + cell * static_cast<double>(k) + 10;
    std::snprintf(
        buf, sizeof buf,
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\" transform=\"rotate(45 %.1f %.1f)\">", x,
        y, x, y);
    svg += buf + xml_escape(names[static_cast<size_t>(p)]) + "</text>\n";
  }
  return svg + "</svg>\n";
}

HtmlTable class_accuracy_table(const ConfusionMatrix& m) {
  HtmlTable table{"per-class accuracy",
                  {"class", "images", "correct", "accuracy", "most often mistaken for"},
                  {}};
  for (int64_t t = 0; t < m.classes(); ++t) {
    const int64_t other = m.most_confused_with(t);
    const int64_t times = other < 0 ? 0 : m.at(t, other);
    const std::string mistaken = other < 0 ? "none"
                                           : m.class_names[static_cast<size_t>(other)] + " (" +
                                                 std::to_string(times) +
                                                 (times == 1 ? " image)" : " images)");
    table.rows.push_back({m.class_names[static_cast<size_t>(t)], std::to_string(m.images_of(t)),
                          std::to_string(m.at(t, t)), percent(m.class_accuracy(t)), mistaken});
  }
  return table;
}

HtmlSection test_confusion_section(const std::string& csv_path, int64_t expected_classes) {
  HtmlSection section{"Test set", {}, {}, {}};
  if (!std::filesystem::exists(csv_path)) {
    section.paragraphs.push_back(
        "No confusion matrix: " + csv_path +
        " is absent (lowbit-train writes it when a run has finished all its epochs).");
    return section;
  }
  const ConfusionMatrix m = read_confusion_csv(csv_path);
  LOWBIT_CHECK(m.classes() == expected_classes, csv_path, ": ", m.classes(), " classes; expected ",
               expected_classes, ", the classes of the run's data set");
  const std::string accuracy = percent(m.accuracy());
  section.paragraphs.push_back("The final model on the test split (" + csv_path + "): " + accuracy +
                               " of " + std::to_string(m.total()) + " images.");
  section.tables.push_back(class_accuracy_table(m));
  section.figures.push_back(
      svg_confusion(m.counts, m.class_names, "test set: " + accuracy + " correct"));
  return section;
}

}  // namespace lowbit
