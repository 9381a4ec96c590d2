// The confusion matrix as people read it: a heat map (SVG), a per-class accuracy table, and the
// report page's section on a run's test set, read from the test_confusion.csv lowbit-train
// leaves in the run directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/html_report.h"
#include "apps/train/confusion_matrix.h"

namespace lowbit {

// counts[true * k + predicted]; cells shaded by the share of their row (so that a rare class's
// errors show as clearly as a common one's), counts printed.
std::string svg_confusion(const std::vector<int64_t>& counts,
                          const std::vector<std::string>& class_names, const std::string& title);

// One row per class: its name, test images, correct ones, accuracy, and the class it was most
// often mistaken for.
HtmlTable class_accuracy_table(const ConfusionMatrix& matrix);

// The section for the confusion matrix in `csv_path`: the heat map and the per-class table. A
// missing file is not an error (a run stopped early has none yet): the section says so in one
// line. A malformed file, or one with other than `expected_classes` classes, throws naming it.
HtmlSection test_confusion_section(const std::string& csv_path, int64_t expected_classes);

}  // namespace lowbit
