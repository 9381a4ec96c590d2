// The fine-tuning loop, written as section 4.1.2 reads: for each epoch, for each batch: schedule,
// teacher logits, student logits, RMSE, zero_grad, backward, Adam step, projection of the scales.
// Under mpirun each rank runs it on its shard of every batch (gradient_pass sums the gradients).
#include "apps/fat/quantize_finetune.h"

#include <cmath>
#include <cstdio>

#include "apps/fat/quantize_model.h"
#include "apps/train/data_parallel.h"
#include "apps/train/train_epoch.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/distributed/communicator.h"
#include "layers/losses.h"
#include "optim/adam.h"
#include "optim/schedule.h"

namespace lowbit {
namespace {

Tensor logits_without_graph(Module& model, const Tensor& images) {
  NoGradGuard no_grad;
  return model(images);
}

// Eq. 25 over the whole batch, of which `student` and `target` hold this rank's shard when `loader`
// is sharded. The RMSE is not a mean over the images, so the shards' RMSEs weighted by their shares
// would not give the batch's: the ranks sum their squares and counts first (an empty shard adds
// zeros), and each rank's loss carries the batch's RMSE with its shard's part of the gradient.
BatchLoss batch_rmse_loss(const Tensor& student, const Tensor& target, const BatchLoader& loader) {
  if (loader.shards() == 1) return BatchLoss{rmse_loss(student, target)};
  const bool empty = !student.defined();
  double sums[2] = {empty ? 0.0 : sum_square_difference(student, target),
                    empty ? 0.0 : static_cast<double>(student.numel())};
  world().allreduce_sum(sums, 2, "the fine-tuning RMSE");
  if (empty) return BatchLoss{};
  return BatchLoss{
      shard_rmse_loss(student, target, static_cast<float>(std::sqrt(sums[0] / sums[1])))};
}

}  // namespace

std::string fine_tune_metrics_csv(const std::vector<FineTuneEpoch>& history) {
  std::string out = "epoch,train_rmse,held_out_rmse,lr,seconds,images_per_second\n";
  char line[192];
  for (const FineTuneEpoch& m : history) {
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.8g,%.3f,%.1f\n", m.epoch, m.train_rmse,
                  m.held_out_rmse, m.lr, m.seconds, m.images_per_second);
    out += line;
  }
  return out;
}

double logits_rmse(Module& teacher, Module& student, BatchLoader& loader) {
  const ModeGuard teacher_mode(teacher, false), student_mode(student, false);
  loader.start_epoch(0);
  double sum = 0.0;
  int64_t count = 0;
  Batch batch;
  while (loader.next(batch)) {
    if (batch.labels.empty()) continue;  // this rank's shard of a small last batch
    const Tensor t = logits_without_graph(teacher, batch.images),
                 s = logits_without_graph(student, batch.images);
    sum += sum_square_difference(s, t);
    count += t.numel();
  }
  if (loader.shards() > 1) {  // every rank's shards together
    double sums[2] = {sum, static_cast<double>(count)};
    world().allreduce_sum(sums, 2, "the held-out RMSE");
    sum = sums[0];
    count = static_cast<int64_t>(sums[1]);
  }
  LOWBIT_CHECK(count > 0, "logits_rmse: the loader gave no images");
  return std::sqrt(sum / static_cast<double>(count));
}

std::vector<FineTuneEpoch> fine_tune_scales(
    Module& teacher, Module& student, BatchLoader& train, BatchLoader& held_out,
    const FineTuneOptions& o, const std::function<void(const FineTuneEpoch&)>& on_epoch) {
  LOWBIT_CHECK(train.batches_per_epoch() > 0, "fine-tuning: the training loader has no batches");
  const std::vector<Parameter> scales = freeze_all_but_scales(student);
  AdamOptions adam_options;
  adam_options.lr = o.lr;
  Adam adam(scales, adam_options);
  ScheduleConfig schedule;
  schedule.kind = ScheduleKind::kCosineRestarts;
  const int64_t steps_per_epoch = train.batches_per_epoch();
  schedule.total_steps = static_cast<int64_t>(o.epochs) * steps_per_epoch;
  schedule.t0 = static_cast<int64_t>(o.restart_epochs) * steps_per_epoch;
  schedule.t_mult = o.restart_mult;
  schedule.reset_state_on_restart = true;  // section 4.1.2: the optimizer restarts with the cosine
  LrScheduler scheduler({&adam}, schedule);

  // Both in evaluation mode throughout: the student's BNs are folded, and the teacher is fixed.
  const ModeGuard teacher_mode(teacher, false), student_mode(student, false);
  std::vector<FineTuneEpoch> history;
  int64_t step = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    double rmse_sum = 0.0;
    int64_t batches = 0;
    const PassResult pass = gradient_pass(
        train, epoch - 1, {&adam}, scheduler, step,
        "fine-tune " + std::to_string(epoch) + "/" + std::to_string(o.epochs),
        "fine-tuning diverged: the RMSE",
        [&](const Batch& batch) {  // eq. 25; the labels are never read but to see an empty shard
          if (batch.labels.empty()) return batch_rmse_loss(Tensor(), Tensor(), train);
          const Tensor target = logits_without_graph(teacher, batch.images);
          return batch_rmse_loss(student(batch.images), target, train);
        },
        [&](const BatchTotals& totals) {
          rmse_sum += totals.loss;
          ++batches;
          char status[64];
          std::snprintf(status, sizeof status, "rmse %.5f",
                        rmse_sum / static_cast<double>(batches));
          return std::string(status);
        },
        [&] { project_scales(student); });
    FineTuneEpoch m;
    m.epoch = epoch;
    m.seconds = pass.seconds;
    m.train_rmse = rmse_sum / static_cast<double>(batches);
    m.lr = adam.lr();
    m.images_per_second = m.seconds > 0 ? static_cast<double>(pass.images) / m.seconds : 0.0;
    if (epoch == o.epochs)
      snap_scales(student);  // off the rounding boundaries (apps/fat/quantize_model.h)
    m.held_out_rmse = logits_rmse(teacher, student, held_out);
    // Data parallelism: the same sums and steps must leave every rank the same scales and moments.
    check_replicas_agree(student, {&adam}, world(), concat("after fine-tuning epoch ", epoch));
    history.push_back(m);
    if (on_epoch) on_epoch(m);
  }
  return history;
}

}  // namespace lowbit
