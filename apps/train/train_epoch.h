// One epoch of training: for each batch, schedule, forward, loss, zero_grad, backward, step. The
// pass itself (gradient_pass) is shared with lowbit-quantize's threshold fine-tuning.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace lowbit {

// The rows n of (N, classes) logits whose arg-max (the first one on ties) is labels[n].
int64_t count_correct(const Tensor& logits, const std::vector<int32_t>& labels);

struct PassResult {
  double seconds = 0;
  int64_t batches = 0, images = 0;  // images of every rank
};

// One batch's loss on this rank's images (its shard of the batch; all of it in one process): their
// mean, and how many of them the model classifies right (0 when the caller does not count).
struct BatchLoss {
  Tensor loss;
  int64_t correct = 0;
};

// The same over the whole batch, every rank's shard together.
struct BatchTotals {
  float loss = 0;  // the mean over the batch's images
  int64_t images = 0, correct = 0;
};

// One pass of gradient steps over the epoch `epoch` (0-based) of `loader`. Per batch: the scheduler
// sets the rate of step `step` (advanced by one), loss_of(batch) builds the loss, the optimizers
// zero their gradients, backward, step, then after_step() (projections; may be empty);
// record(totals) accumulates what the caller reports and returns the progress bar's status. A
// non-finite loss throws CollectiveError: "<what> is <value> at step S (epoch E); try a lower
// --lr", E = epoch + 1.
//
// Data parallelism (the loader reads one shard of each batch, core/distributed): this rank's loss
// is weighted by its share of the batch, n_rank / n, so that the gradients summed over the ranks
// (GradientAllreduce) are those of the batch's mean loss, as one process computes them, and the
// totals are summed alongside. Every rank then applies the same step to the same gradients.
// loss_of runs on every rank for every batch, also for an empty shard (no images, no labels: a last
// batch smaller than the ranks), where it returns BatchLoss{} after taking part in whatever
// collective its loss needs (the fine-tuning RMSE sums its squares over the ranks).
PassResult gradient_pass(BatchLoader& loader, int64_t epoch,
                         const std::vector<Optimizer*>& optimizers, LrScheduler& scheduler,
                         int64_t& step, const std::string& label, const std::string& what,
                         const std::function<BatchLoss(const Batch&)>& loss_of,
                         const std::function<std::string(const BatchTotals&)>& record,
                         const std::function<void()>& after_step = {});

struct EpochResult {
  double loss = 0;      // mean cross-entropy over the epoch's images
  double accuracy = 0;  // percent, on the (augmented) training batches
  double lr = 0;        // the first optimizer's learning rate at the last step
  double seconds = 0;
  int64_t images = 0;
};

// The training loss: cross-entropy with label smoothing, mixed with distillation from a
// teacher's logits when there is one: (1 - w) CE + w T^2 KL(softmax(teacher/T) ||
// softmax(student/T)).
struct TrainLoss {
  float label_smoothing = 0;
  Module* teacher =
      nullptr;  // evaluated on the same (augmented) batch, in eval mode, without gradient
  float distill_weight = 0.7f;
  float distill_temperature = 4.0f;
};

// Trains `model` for the epoch `epoch` (0-based) of `loader`; `step` is the global step
// count, advanced by one per batch. Shows a progress bar labelled `label` on a terminal.
// Throws lowbit::Error when the loss stops being finite (divergence), naming the step.
EpochResult train_epoch(Module& model, BatchLoader& loader, int64_t epoch,
                        const std::vector<Optimizer*>& optimizers, LrScheduler& scheduler,
                        int64_t& step, const TrainLoss& loss, const std::string& label);

}  // namespace lowbit
