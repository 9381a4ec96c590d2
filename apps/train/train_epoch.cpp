// The training loop of one epoch, written as the algorithm reads.
#include "apps/train/train_epoch.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/common/progress.h"
#include "core/autograd.h"
#include "core/check.h"
#include "layers/elementwise.h"
#include "layers/losses.h"

namespace lowbit {

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

PassResult gradient_pass(BatchLoader& loader, int64_t epoch,
                         const std::vector<Optimizer*>& optimizers, LrScheduler& scheduler,
                         int64_t& step, const std::string& label, const std::string& what,
                         const std::function<Tensor(const Batch&)>& loss_of,
                         const std::function<std::string(float, const Batch&)>& record,
                         const std::function<void()>& after_step) {
  PassResult result;
  loader.start_epoch(epoch);
  ProgressBar bar(label, loader.batches_per_epoch());
  const auto start = std::chrono::steady_clock::now();
  Batch batch;
  while (loader.next(batch)) {
    scheduler.apply(step);
    const Tensor loss = loss_of(batch);
    for (Optimizer* o : optimizers) o->zero_grad();
    backward(loss);
    for (Optimizer* o : optimizers) o->step();
    if (after_step) after_step();
    const float value = loss.item();
    LOWBIT_CHECK(std::isfinite(value), what, " is ", value, " at step ", step, " (epoch ",
                 epoch + 1, "); try a lower --lr");
    ++result.batches;
    ++step;
    result.images += static_cast<int64_t>(batch.labels.size());
    bar.update(result.batches, result.images, record(value, batch));
  }
  bar.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

EpochResult train_epoch(Module& model, BatchLoader& loader, int64_t epoch,
                        const std::vector<Optimizer*>& optimizers, LrScheduler& scheduler,
                        int64_t& step, const TrainLoss& loss, const std::string& label) {
  model.train();
  double loss_sum = 0;
  int64_t correct = 0, images = 0;
  Tensor logits;
  const PassResult pass = gradient_pass(
      loader, epoch, optimizers, scheduler, step, label, "training diverged: the loss",
      [&](const Batch& batch) {
        logits = model(batch.images);
        const Tensor ce = cross_entropy(logits, batch.labels, loss.label_smoothing);
        if (loss.teacher == nullptr) return ce;
        Tensor teacher_logits;
        {
          NoGradGuard no_grad;
          teacher_logits = (*loss.teacher)(batch.images);
        }
        const Tensor kl = distillation_kl(logits, teacher_logits, loss.distill_temperature);
        return add(mul_scalar(ce, 1.0f - loss.distill_weight), mul_scalar(kl, loss.distill_weight));
      },
      [&](float value, const Batch& batch) {
        const auto n = static_cast<int64_t>(batch.labels.size());
        loss_sum += static_cast<double>(value) * static_cast<double>(n);
        correct += count_correct(logits, batch.labels);
        images += n;
        char status[96];
        std::snprintf(status, sizeof status, "loss %.4f acc %.2f%%",
                      loss_sum / static_cast<double>(images),
                      100.0 * static_cast<double>(correct) / static_cast<double>(images));
        return std::string(status);
      });
  EpochResult result;
  result.seconds = pass.seconds;
  result.images = pass.images;
  if (result.images > 0) {
    result.loss = loss_sum / static_cast<double>(result.images);
    result.accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(result.images);
  }
  result.lr = optimizers.empty() ? 0.0 : optimizers.front()->lr();
  return result;
}

}  // namespace lowbit
