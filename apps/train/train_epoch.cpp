// The training loop of one epoch, written as the algorithm reads.
#include "apps/train/train_epoch.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/common/progress.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/distributed/gradient_allreduce.h"
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

namespace {

// Every parameter the optimizers update, each once.
std::vector<Parameter> optimized_parameters(const std::vector<Optimizer*>& optimizers) {
  std::vector<Parameter> params;
  for (const Optimizer* o : optimizers) {
    for (const Parameter& p : o->parameters()) params.push_back(p);
  }
  return params;
}

}  // namespace

PassResult gradient_pass(BatchLoader& loader, int64_t epoch,
                         const std::vector<Optimizer*>& optimizers, LrScheduler& scheduler,
                         int64_t& step, const std::string& label, const std::string& what,
                         const std::function<BatchLoss(const Batch&)>& loss_of,
                         const std::function<std::string(const BatchTotals&)>& record,
                         const std::function<void()>& after_step) {
  PassResult result;
  GradientAllreduceOptions sum_options;
  sum_options.extras = 2;  // the batch's loss (times its images) and its correct predictions
  GradientAllreduce gradients(optimized_parameters(optimizers), world(), sum_options);
  loader.start_epoch(epoch);
  ProgressBar bar(label, loader.batches_per_epoch());
  const auto start = std::chrono::steady_clock::now();
  Batch batch;
  while (loader.next(batch)) {
    scheduler.apply(step);
    const auto images = static_cast<int64_t>(batch.labels.size());
    // A shard may be empty (a last batch smaller than the ranks): this rank then adds nothing, but
    // loss_of still runs, for the collectives a loss over the whole batch takes part in.
    const BatchLoss local = loss_of(batch);
    LOWBIT_CHECK(images > 0 || !local.loss.defined(), what,
                 ": a loss from an empty shard of a batch; expected none");
    for (Optimizer* o : optimizers) o->zero_grad();
    BatchTotals totals{images > 0 ? local.loss.item() : 0.0f, batch.global_size, local.correct};
    if (loader.shards() == 1) {
      gradients.backward(local.loss);
    } else {
      float sums[2] = {totals.loss * static_cast<float>(images), static_cast<float>(local.correct)};
      const float share = static_cast<float>(images) / static_cast<float>(batch.global_size);
      gradients.backward(images > 0 ? mul_scalar(local.loss, share) : Tensor(), sums);
      totals.loss = sums[0] / static_cast<float>(batch.global_size);
      totals.correct = static_cast<int64_t>(sums[1]);
    }
    for (Optimizer* o : optimizers) o->step();
    if (after_step) after_step();
    if (!std::isfinite(totals.loss))
      throw CollectiveError(concat(what, " is ", totals.loss, " at step ", step, " (epoch ",
                                   epoch + 1, "); try a lower --lr"));
    ++result.batches;
    ++step;
    result.images += totals.images;
    bar.update(result.batches, result.images, record(totals));
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
  const PassResult pass = gradient_pass(
      loader, epoch, optimizers, scheduler, step, label, "training diverged: the loss",
      [&](const Batch& batch) {
        if (batch.labels.empty()) return BatchLoss{};  // this rank's shard of a small last batch
        const Tensor logits = model(batch.images);
        const int64_t right = count_correct(logits, batch.labels);
        const Tensor ce = cross_entropy(logits, batch.labels, loss.label_smoothing);
        if (loss.teacher == nullptr) return BatchLoss{ce, right};
        Tensor teacher_logits;
        {
          NoGradGuard no_grad;
          teacher_logits = (*loss.teacher)(batch.images);
        }
        const Tensor kl = distillation_kl(logits, teacher_logits, loss.distill_temperature);
        return BatchLoss{
            add(mul_scalar(ce, 1.0f - loss.distill_weight), mul_scalar(kl, loss.distill_weight)),
            right};
      },
      [&](const BatchTotals& batch) {
        loss_sum += static_cast<double>(batch.loss) * static_cast<double>(batch.images);
        correct += batch.correct;
        images += batch.images;
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
