// Evaluation of a classifier over a whole data set: mean cross-entropy, accuracy, and the
// confusion matrix (rows: true class, columns: predicted class), with per-class accuracy.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/train/confusion_matrix.h"
#include "data/batch_loader.h"
#include "layers/module.h"

namespace lowbit {

struct Evaluation {
  int64_t num_classes = 0;
  int64_t count = 0;
  double loss = 0;                 // mean cross-entropy over the images
  double accuracy = 0;             // percent
  std::vector<int64_t> confusion;  // confusion[true * num_classes + predicted]

  // Percent of the images of class k that were predicted as k (0 when the class is absent).
  double class_accuracy(int64_t k) const;
};

// Runs `model` in eval mode without recording a graph over every batch of `loader` (one
// epoch, in order); the model's mode is restored afterwards. With `flip_average` (test-time
// augmentation), each image's logits are the mean of the logits of the image and of its mirror
// image (left-right): the prediction is their arg-max and the loss their cross-entropy.
// Averaging logits rather than probabilities keeps the loss a plain cross-entropy; the two differ
// only where the views disagree strongly. A loader that reads one shard of every batch (data
// parallelism, data/batch_loader.h) gives every rank the sums over all the shards.
Evaluation evaluate(Module& model, BatchLoader& loader, int64_t num_classes,
                    bool flip_average = false);

// A batch of images (N, C, H, W) mirrored left-right: out(n, c, y, x) = in(n, c, y, W-1-x).
Tensor mirror_horizontally(const Tensor& images);

// How often two models predict the same class (an integer-only model against its simulation).
struct Agreement {
  int64_t count = 0, agreeing = 0;
  double max_abs_logit_difference = 0;
  double max_abs_logit = 0;  // of the first model: the logit scale
  double percent() const {
    return count > 0 ? 100.0 * static_cast<double>(agreeing) / static_cast<double>(count) : 0.0;
  }
  // The largest difference over the logit scale.
  double relative_difference() const {
    return max_abs_logit > 0 ? max_abs_logit_difference / max_abs_logit : max_abs_logit_difference;
  }
};
// Adds the rows of two (N, classes) logit tensors: same arg-max, the largest difference, and the
// first one's largest magnitude.
void accumulate_agreement(const Tensor& logits_a, const Tensor& logits_b, Agreement& agreement);
// Two models over the same batches in one pass (eval mode, no graph, modes restored): each one's
// evaluation and how often they agree (an integer-only model beside its simulation). A sharded
// loader gives every rank the sums over all the shards, as evaluate() does, and the largest
// differences.
struct PairedEvaluation {
  Evaluation first, second;
  Agreement agreement;
};
PairedEvaluation evaluate_pair(Module& a, Module& b, BatchLoader& loader, int64_t num_classes);

// The confusion matrix with its class names, and as CSV (the format of
// apps/train/confusion_matrix.h).
ConfusionMatrix confusion_matrix(const Evaluation& evaluation,
                                 const std::vector<std::string>& class_names);
std::string confusion_csv(const Evaluation& evaluation,
                          const std::vector<std::string>& class_names);
// The same as an aligned text table, followed by per-class accuracy.
std::string confusion_table(const Evaluation& evaluation,
                            const std::vector<std::string>& class_names);
// Per-class accuracy as a JSON object: {"<class name>": percent, ...}.
nlohmann::json class_accuracy_json(const Evaluation& evaluation,
                                   const std::vector<std::string>& class_names);

}  // namespace lowbit
