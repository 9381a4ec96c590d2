// The training loop of one epoch, written as the algorithm reads.
#include "apps/train_epoch.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/progress.h"
#include "core/autograd.h"
#include "core/check.h"
#include "layers/losses.h"

namespace lowbit {
namespace {

int64_t count_correct(const Tensor& logits, const std::vector<int32_t>& labels) {
  const int64_t k = logits.size(1);
  int64_t correct = 0;
  for (size_t n = 0; n < labels.size(); ++n) {
    const float* row = logits.data() + static_cast<int64_t>(n) * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j) best = row[j] > row[best] ? j : best;
    correct += best == labels[n];
  }
  return correct;
}

}  // namespace

EpochResult train_epoch(Module& model, BatchLoader& loader, int64_t epoch, const std::vector<Optimizer*>& optimizers,
                        LrScheduler& scheduler, int64_t& step, float label_smoothing, const std::string& label) {
  EpochResult result;
  model.train();
  loader.start_epoch(epoch);
  ProgressBar bar(label, loader.batches_per_epoch());
  const auto start = std::chrono::steady_clock::now();
  double loss_sum = 0;
  int64_t correct = 0, batches = 0;
  Batch batch;
  while (loader.next(batch)) {
    scheduler.apply(step);
    const Tensor logits = model(batch.images);
    const Tensor loss = cross_entropy(logits, batch.labels, label_smoothing);
    for (Optimizer* o : optimizers) o->zero_grad();
    backward(loss);
    for (Optimizer* o : optimizers) o->step();

    const float value = loss.item();
    LOWBIT_CHECK(std::isfinite(value), "training diverged: the loss is ", value, " at step ", step, " (epoch ",
                 epoch + 1, "); try a lower --lr");
    const auto n = static_cast<int64_t>(batch.labels.size());
    loss_sum += static_cast<double>(value) * static_cast<double>(n);
    correct += count_correct(logits, batch.labels);
    result.images += n;
    ++batches;
    ++step;
    char status[96];
    std::snprintf(status, sizeof status, "loss %.4f acc %.2f%%", loss_sum / static_cast<double>(result.images),
                  100.0 * static_cast<double>(correct) / static_cast<double>(result.images));
    bar.update(batches, result.images, status);
  }
  bar.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.images > 0) {
    result.loss = loss_sum / static_cast<double>(result.images);
    result.accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(result.images);
  }
  result.lr = optimizers.empty() ? 0.0 : optimizers.front()->lr();
  return result;
}

}  // namespace lowbit
