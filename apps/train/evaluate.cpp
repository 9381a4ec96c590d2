// Evaluation: one pass in eval mode under a NoGradGuard, loss from the fused cross-entropy; with a
// sharded loader (data parallelism) each rank evaluates its shards and the sums are added up.
#include "apps/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/autograd.h"
#include "core/check.h"
#include "core/distributed/communicator.h"
#include "layers/elementwise.h"
#include "layers/losses.h"

namespace lowbit {

double Evaluation::class_accuracy(int64_t k) const {
  return lowbit::class_accuracy(confusion, num_classes, k);
}

namespace {

// Accumulates one model's evaluation batch by batch (loss_sum and correct until finish()).
class EvaluationSum {
 public:
  explicit EvaluationSum(int64_t num_classes) {
    result_.num_classes = num_classes;
    result_.confusion.assign(static_cast<size_t>(num_classes * num_classes), 0);
  }
  void add(const Tensor& logits, const std::vector<int32_t>& labels) {
    const int64_t k = result_.num_classes;
    LOWBIT_CHECK(logits.rank() == 2 && logits.size(1) == k,
                 "evaluate: the model's output has shape ", logits.shape().str(), ", expected (N, ",
                 k, ")");
    const auto n = static_cast<int64_t>(labels.size());
    loss_sum_ += static_cast<double>(cross_entropy(logits, labels).item()) * static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data() + i * k;
      // A NaN or infinite logit would still pick some class: an accuracy that means nothing.
      for (int64_t c = 0; c < k; ++c) {
        LOWBIT_CHECK(std::isfinite(row[c]), "evaluate: the model's logit ", c, " for image ",
                     result_.count + i, " is ", row[c],
                     "; expected a finite number (the weights or statistics overflow float32)");
      }
      const int64_t predicted = std::max_element(row, row + k) - row;
      const int64_t truth = labels[static_cast<size_t>(i)];
      correct_ += predicted == truth;
      ++result_.confusion[static_cast<size_t>(truth * k + predicted)];
    }
    result_.count += n;
  }
  // Data parallelism: every rank's sums together (each read one shard of every batch).
  void sum_over_ranks(Communicator& ranks) {
    ranks.allreduce_sum(&loss_sum_, 1, "the evaluation's sums");
    std::vector<int64_t> counts = result_.confusion;
    counts.push_back(correct_);
    counts.push_back(result_.count);
    ranks.allreduce_sum(counts.data(), static_cast<int64_t>(counts.size()),
                        "the evaluation's sums");
    result_.count = counts.back();
    counts.pop_back();
    correct_ = counts.back();
    counts.pop_back();
    result_.confusion = counts;
  }
  Evaluation finish() const {
    Evaluation result = result_;
    if (result.count > 0) {
      result.loss = loss_sum_ / static_cast<double>(result.count);
      result.accuracy = 100.0 * static_cast<double>(correct_) / static_cast<double>(result.count);
    }
    return result;
  }

 private:
  Evaluation result_;
  double loss_sum_ = 0;
  int64_t correct_ = 0;
};

// Data parallelism: every rank's counts added up, and the largest differences.
void sum_over_ranks(Agreement& a, Communicator& ranks) {
  int64_t counts[2] = {a.count, a.agreeing};
  ranks.allreduce_sum(counts, 2, "the agreement's sums");
  a.count = counts[0];
  a.agreeing = counts[1];
  double largest[2] = {a.max_abs_logit_difference, a.max_abs_logit};
  ranks.allreduce_max(largest, 2, "the agreement's largest values");
  a.max_abs_logit_difference = largest[0];
  a.max_abs_logit = largest[1];
}

}  // namespace

Tensor mirror_horizontally(const Tensor& images) {
  LOWBIT_CHECK(images.rank() == 4, "mirror_horizontally: images of shape ", images.shape().str(),
               ", expected (N, C, H, W)");
  const int64_t w = images.size(3), rows = images.numel() / std::max<int64_t>(w, 1);
  Tensor out = Tensor::empty(images.shape());
  const float* src = images.data();
  float* dst = out.data();
  for (int64_t r = 0; r < rows; ++r) std::reverse_copy(src + r * w, src + (r + 1) * w, dst + r * w);
  return out;
}

Evaluation evaluate(Module& model, BatchLoader& loader, int64_t num_classes, bool flip_average) {
  const ModeGuard mode(model, false);
  NoGradGuard no_grad;
  EvaluationSum sum(num_classes);
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    if (batch.labels.empty()) continue;  // this rank's shard of a small last batch
    Tensor logits = model(batch.images);
    if (flip_average)
      logits = mul_scalar(add(logits, model(mirror_horizontally(batch.images))), 0.5f);
    sum.add(logits, batch.labels);
  }
  if (loader.shards() > 1) sum.sum_over_ranks(world());
  return sum.finish();
}

PairedEvaluation evaluate_pair(Module& a, Module& b, BatchLoader& loader, int64_t num_classes) {
  const ModeGuard a_mode(a, false), b_mode(b, false);
  NoGradGuard no_grad;
  EvaluationSum sum_a(num_classes), sum_b(num_classes);
  PairedEvaluation result;
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    if (batch.labels.empty()) continue;  // this rank's shard of a small last batch
    const Tensor logits_a = a(batch.images), logits_b = b(batch.images);
    sum_a.add(logits_a, batch.labels);
    sum_b.add(logits_b, batch.labels);
    accumulate_agreement(logits_a, logits_b, result.agreement);
  }
  if (loader.shards() > 1) {
    sum_a.sum_over_ranks(world());
    sum_b.sum_over_ranks(world());
    sum_over_ranks(result.agreement, world());
  }
  result.first = sum_a.finish();
  result.second = sum_b.finish();
  return result;
}

std::string confusion_csv(const Evaluation& e, const std::vector<std::string>& names) {
  return confusion_csv(confusion_matrix(e, names));
}

ConfusionMatrix confusion_matrix(const Evaluation& e, const std::vector<std::string>& names) {
  LOWBIT_CHECK(static_cast<int64_t>(names.size()) == e.num_classes,
               "confusion matrix: ", names.size(), " class names for ", e.num_classes, " classes");
  return {names, e.confusion};
}

std::string confusion_table(const Evaluation& e, const std::vector<std::string>& names) {
  size_t label_width = 4;
  for (const std::string& n : names) label_width = std::max(label_width, n.size());
  const int cell = 6;
  std::string out(label_width + 1, ' ');
  char buf[64];
  for (int64_t p = 0; p < e.num_classes; ++p) {
    std::snprintf(buf, sizeof buf, "%*lld", cell, static_cast<long long>(p));
    out += buf;
  }
  out += "   accuracy\n";
  for (int64_t t = 0; t < e.num_classes; ++t) {
    const std::string& name = names.at(static_cast<size_t>(t));
    out += name + std::string(label_width + 1 - name.size(), ' ');
    for (int64_t p = 0; p < e.num_classes; ++p) {
      std::snprintf(
          buf, sizeof buf, "%*lld", cell,
          static_cast<long long>(e.confusion[static_cast<size_t>(t * e.num_classes + p)]));
      out += buf;
    }
    std::snprintf(buf, sizeof buf, "   %6.2f%%  (%lld) %s\n", e.class_accuracy(t),
                  static_cast<long long>(t), name.c_str());
    out += buf;
  }
  return out;
}

void accumulate_agreement(const Tensor& a, const Tensor& b, Agreement& agreement) {
  LOWBIT_CHECK(a.shape() == b.shape() && a.rank() == 2, "agreement: logits of shapes ",
               a.shape().str(), " and ", b.shape().str(), "; expected the same (N, classes)");
  const int64_t n = a.size(0), classes = a.size(1);
  for (int64_t i = 0; i < n; ++i) {
    const float* ra = a.data() + i * classes;
    const float* rb = b.data() + i * classes;
    agreement.agreeing +=
        (std::max_element(ra, ra + classes) - ra) == (std::max_element(rb, rb + classes) - rb);
    for (int64_t k = 0; k < classes; ++k) {
      agreement.max_abs_logit_difference = std::max(agreement.max_abs_logit_difference,
                                                    std::fabs(static_cast<double>(ra[k]) - rb[k]));
      agreement.max_abs_logit =
          std::max(agreement.max_abs_logit, std::fabs(static_cast<double>(ra[k])));
    }
  }
  agreement.count += n;
}

nlohmann::json class_accuracy_json(const Evaluation& e, const std::vector<std::string>& names) {
  nlohmann::json per_class = nlohmann::json::object();
  for (int64_t k = 0; k < e.num_classes; ++k)
    per_class[names.at(static_cast<size_t>(k))] = e.class_accuracy(k);
  return per_class;
}

}  // namespace lowbit
