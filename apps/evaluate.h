// Evaluation of a classifier over a whole data set: mean cross-entropy, accuracy, and the
// confusion matrix (rows: true class, columns: predicted class), with per-class accuracy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "layers/module.h"

namespace lowbit {

struct Evaluation {
  int64_t num_classes = 0;
  int64_t count = 0;
  double loss = 0;      // mean cross-entropy over the images
  double accuracy = 0;  // percent
  std::vector<int64_t> confusion;  // confusion[true * num_classes + predicted]

  // Percent of the images of class k that were predicted as k (0 when the class is absent).
  double class_accuracy(int64_t k) const;
};

// Runs `model` in eval mode without recording a graph over every batch of `loader` (one
// epoch, in order); the model's mode is restored afterwards.
Evaluation evaluate(Module& model, BatchLoader& loader, int64_t num_classes);

// The confusion matrix as CSV: a header "true\predicted,<class names>", one row per class.
std::string confusion_csv(const Evaluation& evaluation, const std::vector<std::string>& class_names);
// The same as an aligned text table, followed by per-class accuracy.
std::string confusion_table(const Evaluation& evaluation, const std::vector<std::string>& class_names);

}  // namespace lowbit
