// A confusion matrix with its class names: what lowbit-train writes to test_confusion.csv and
// lowbit-eval to its --csv file, read back by the report page. Rows are true classes, columns
// predicted classes; per-class accuracy is the diagonal over the row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

struct ConfusionMatrix {
  std::vector<std::string> class_names;  // K names
  std::vector<int64_t> counts;           // counts[true * K + predicted], K * K of them

  int64_t classes() const { return static_cast<int64_t>(class_names.size()); }
  int64_t at(int64_t truth, int64_t predicted) const {
    return counts[static_cast<size_t>(truth * classes() + predicted)];
  }
  int64_t images_of(int64_t truth) const;  // the row's sum
  double class_accuracy(int64_t truth) const;
  // The class that images of `truth` were most often mistaken for; -1 when none was mistaken.
  int64_t most_confused_with(int64_t truth) const;
  int64_t total() const;
  double accuracy() const;  // percent of all images on the diagonal
};

// Percent of the images of class `truth` predicted as `truth` (0 when the class has no images);
// counts[true * classes + predicted]. Shared with Evaluation, which has no class names.
double class_accuracy(const std::vector<int64_t>& counts, int64_t classes, int64_t truth);

// The CSV: a header "true\predicted,<class names>", then one row per class "<name>,<counts>".
std::string confusion_csv(const ConfusionMatrix& matrix);
// Reads that CSV back; `source` (the file's path) names the file in the one-line error thrown for
// anything else: a wrong header, a row of the wrong length or class, a count that is not a
// non-negative integer, missing or extra rows.
ConfusionMatrix parse_confusion_csv(const std::string& csv, const std::string& source);
ConfusionMatrix read_confusion_csv(const std::string& path);

}  // namespace lowbit
