// Loss values and gradients:
//   cross-entropy: dz = (softmax(z) - t) / N, log-softmax via the max-shifted log-sum-exp;
//   mse:  d pred = 2 (pred - target) / M;
//   rmse: d pred = (pred - target) / (M * rmse) (of a shard of a batch: M the shard's elements,
//   rmse the batch's), taken as 0 when rmse = 0 (pred == target everywhere: the minimum, where the
//   subgradient 0 is the natural choice and keeps training free of NaNs);
//   distillation KL, per row with p = softmax(t/T), q = softmax(s/T), d_k = log p_k - log q_k,
//   KL = sum_k p_k d_k: ds_k = T (q_k - p_k) / N and dt_k = T p_k (d_k - KL) / N.
#include "layers/losses.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/autograd.h"
#include "core/check.h"

namespace lowbit {
namespace {

// Shared by mse and rmse: the difference d = pred - target and its mean square.
void check_pair(const char* op, const Tensor& pred, const Tensor& target) {
  LOWBIT_CHECK(pred.shape() == target.shape(), op, ": prediction shape ", pred.shape().str(),
               " differs from target shape ", target.shape().str());
  LOWBIT_CHECK(pred.numel() > 0, op, ": empty input");
}

double mean_square_difference(const Tensor& pred, const Tensor& target) {
  return sum_square_difference(pred, target) / static_cast<double>(pred.numel());
}

// Adds coef * (pred - target) to pred's gradient and its negative to target's.
void add_difference_gradient(const Tensor& pred, const Tensor& target, float coef) {
  const float *p = pred.data(), *t = target.data();
  if (pred.requires_grad()) {
    float* g = pred.grad();
    for (int64_t i = 0; i < pred.numel(); ++i) g[i] += coef * (p[i] - t[i]);
  }
  if (target.requires_grad()) {
    float* g = target.grad();
    for (int64_t i = 0; i < target.numel(); ++i) g[i] -= coef * (p[i] - t[i]);
  }
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels,
                     float label_smoothing) {
  LOWBIT_CHECK(logits.rank() == 2, "cross_entropy: logits shape ", logits.shape().str(),
               " should be (N, classes)");
  const int64_t n = logits.size(0), k = logits.size(1);
  LOWBIT_CHECK(static_cast<int64_t>(labels.size()) == n, "cross_entropy: ", labels.size(),
               " labels for ", n, " rows of logits");
  LOWBIT_CHECK(label_smoothing >= 0.0f && label_smoothing < 1.0f, "cross_entropy: label smoothing ",
               label_smoothing, " must be in [0, 1)");
  for (int64_t i = 0; i < n; ++i) {
    LOWBIT_CHECK(labels[static_cast<size_t>(i)] >= 0 && labels[static_cast<size_t>(i)] < k,
                 "cross_entropy: label ", labels[static_cast<size_t>(i)], " at index ", i,
                 " is out of range [0, ", k, ")");
  }
  // softmax probabilities, kept for the backward.
  auto probs = std::make_shared<std::vector<float>>(static_cast<size_t>(n * k));
  const float* z = logits.data();
  const float off = label_smoothing / static_cast<float>(k), on = 1.0f - label_smoothing + off;
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z + i * k;
    float mx = row[0];
    for (int64_t j = 1; j < k; ++j) mx = std::max(mx, row[j]);
    double se = 0.0;
    for (int64_t j = 0; j < k; ++j) se += std::exp(static_cast<double>(row[j] - mx));
    const double lse = mx + std::log(se);
    double loss = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const double log_p = row[j] - lse;
      (*probs)[static_cast<size_t>(i * k + j)] = static_cast<float>(std::exp(log_p));
      const float t = j == labels[static_cast<size_t>(i)] ? on : off;
      if (t != 0.0f) loss -= t * log_p;
    }
    total += loss;
  }
  Tensor y = Tensor::scalar(static_cast<float>(total / static_cast<double>(n)));
  record(y, "cross_entropy", {logits}, [logits, labels, probs, n, k, on, off](const Tensor& out) {
    const float scale = out.grad()[0] / static_cast<float>(n);
    float* dz = logits.grad();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const float t = j == labels[static_cast<size_t>(i)] ? on : off;
        dz[i * k + j] += scale * ((*probs)[static_cast<size_t>(i * k + j)] - t);
      }
  });
  return y;
}

namespace {

// log softmax(row / T) of k values into out, via the max-shifted log-sum-exp (in double).
void log_softmax_row(const float* row, int64_t k, float temperature, double* out) {
  double mx = row[0] / static_cast<double>(temperature);
  for (int64_t j = 1; j < k; ++j) mx = std::max(mx, row[j] / static_cast<double>(temperature));
  double se = 0.0;
  for (int64_t j = 0; j < k; ++j) se += std::exp(row[j] / static_cast<double>(temperature) - mx);
  const double lse = mx + std::log(se);
  for (int64_t j = 0; j < k; ++j) out[j] = row[j] / static_cast<double>(temperature) - lse;
}

}  // namespace

Tensor distillation_kl(const Tensor& student_logits, const Tensor& teacher_logits,
                       float temperature) {
  LOWBIT_CHECK(student_logits.rank() == 2, "distillation_kl: student logits shape ",
               student_logits.shape().str(), " should be (N, classes)");
  LOWBIT_CHECK(student_logits.shape() == teacher_logits.shape(),
               "distillation_kl: teacher logits shape ", teacher_logits.shape().str(),
               " differs from student logits shape ", student_logits.shape().str());
  LOWBIT_CHECK(temperature > 0.0f && std::isfinite(temperature), "distillation_kl: temperature ",
               temperature, " must be positive");
  const int64_t n = student_logits.size(0), k = student_logits.size(1);
  LOWBIT_CHECK(n > 0 && k > 0, "distillation_kl: empty logits ", student_logits.shape().str());
  // Per element: q (student) and p (teacher) probabilities and d = log p - log q; per row: KL.
  auto q = std::make_shared<std::vector<float>>(static_cast<size_t>(n * k));
  auto p = std::make_shared<std::vector<float>>(static_cast<size_t>(n * k));
  auto d = std::make_shared<std::vector<float>>(static_cast<size_t>(n * k));
  auto kl = std::make_shared<std::vector<float>>(static_cast<size_t>(n));
  std::vector<double> log_q(static_cast<size_t>(k)), log_p(static_cast<size_t>(k));
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    log_softmax_row(student_logits.data() + i * k, k, temperature, log_q.data());
    log_softmax_row(teacher_logits.data() + i * k, k, temperature, log_p.data());
    double row_kl = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const size_t e = static_cast<size_t>(i * k + j);
      const double pj = std::exp(log_p[static_cast<size_t>(j)]);
      const double dj = log_p[static_cast<size_t>(j)] - log_q[static_cast<size_t>(j)];
      (*q)[e] = static_cast<float>(std::exp(log_q[static_cast<size_t>(j)]));
      (*p)[e] = static_cast<float>(pj);
      (*d)[e] = static_cast<float>(dj);
      row_kl += pj * dj;
    }
    (*kl)[static_cast<size_t>(i)] = static_cast<float>(row_kl);
    total += row_kl;
  }
  const float t2 = temperature * temperature;
  Tensor y = Tensor::scalar(static_cast<float>(t2 * total / static_cast<double>(n)));
  record(y, "distillation_kl", {student_logits, teacher_logits},
         [student_logits, teacher_logits, q, p, d, kl, n, k, temperature](const Tensor& out) {
           const float scale = out.grad()[0] * temperature / static_cast<float>(n);
           if (student_logits.requires_grad()) {
             float* ds = student_logits.grad();
             for (int64_t e = 0; e < n * k; ++e)
               ds[e] += scale * ((*q)[static_cast<size_t>(e)] - (*p)[static_cast<size_t>(e)]);
           }
           if (teacher_logits.requires_grad()) {
             float* dt = teacher_logits.grad();
             for (int64_t i = 0; i < n; ++i)
               for (int64_t j = 0; j < k; ++j) {
                 const size_t e = static_cast<size_t>(i * k + j);
                 dt[e] += scale * (*p)[e] * ((*d)[e] - (*kl)[static_cast<size_t>(i)]);
               }
           }
         });
  return y;
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_pair("mse_loss", pred, target);
  Tensor y = Tensor::scalar(static_cast<float>(mean_square_difference(pred, target)));
  record(y, "mse_loss", {pred, target}, [pred, target](const Tensor& out) {
    add_difference_gradient(pred, target, 2.0f * out.grad()[0] / static_cast<float>(pred.numel()));
  });
  return y;
}

Tensor rmse_loss(const Tensor& pred, const Tensor& target) {
  check_pair("rmse_loss", pred, target);
  return shard_rmse_loss(pred, target,
                         static_cast<float>(std::sqrt(mean_square_difference(pred, target))));
}

Tensor shard_rmse_loss(const Tensor& pred, const Tensor& target, float rmse) {
  check_pair("rmse_loss", pred, target);
  Tensor y = Tensor::scalar(rmse);
  record(y, "rmse_loss", {pred, target}, [pred, target, rmse](const Tensor& out) {
    if (rmse == 0.0f) return;
    add_difference_gradient(pred, target,
                            out.grad()[0] / (static_cast<float>(pred.numel()) * rmse));
  });
  return y;
}

double sum_square_difference(const Tensor& pred, const Tensor& target) {
  double s = 0.0;
  const float *p = pred.data(), *t = target.data();
  for (int64_t i = 0; i < pred.numel(); ++i) s += static_cast<double>(p[i] - t[i]) * (p[i] - t[i]);
  return s;
}

}  // namespace lowbit
