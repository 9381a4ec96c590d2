// Threshold fine-tuning of lowbit-quantize (Goncharenko et al., sections 3.2 and 4.1.2): only the
// quantizers' scales train, to minimize the RMSE between the float network's logits and the
// quantized network's (eq. 24-25 with alpha = beta = 0: labels are never read), with Adam and
// cosine annealing with warm restarts that reset the optimizer at every restart.
//
// Reading of eq. 25: H = sqrt(sum_i (z^T_i - z^A_i)^2 / N) with N "the batch size" and i running
// over the batch's logits. We divide by the number of values (batch size x classes), what
// layers/losses.h's rmse_loss computes: the literal reading only multiplies H by the constant
// sqrt(classes), which Adam's update (invariant to the scale of the loss) does not see, and the
// per-value RMSE is comparable across data sets.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "layers/module.h"

namespace lowbit {

struct FineTuneEpoch {
  int epoch = 0;             // 1-based
  double train_rmse = 0;     // mean over the epoch's batches (as trained, before each step)
  double held_out_rmse = 0;  // after the epoch, on the held-out images
  double lr = 0;             // at the epoch's last step
  double seconds = 0;        // training time of the epoch (without the held-out evaluation)
  double images_per_second = 0;
};

// The header and one line per epoch.
std::string fine_tune_metrics_csv(const std::vector<FineTuneEpoch>& history);

// sqrt(mean of (student - teacher)^2) over every logit of every image of one epoch of `loader`,
// both models in eval mode without a graph (their modes are restored). A loader that reads one
// shard of every batch (data parallelism) gives every rank the RMSE over all the shards.
double logits_rmse(Module& teacher, Module& student, BatchLoader& loader);

struct FineTuneOptions {
  int epochs = 6;
  float lr = 1e-3f;
  int restart_epochs = 2;  // T0 of the warm restarts, in epochs
  int restart_mult = 2;    // Tmult
};

// Trains the kQuantScale parameters of `student` (every other parameter frozen) on the RMSE to
// `teacher`'s logits over the batches of `train` (its images only), projecting the scales into
// their clip ranges after every step; after each epoch measures the held-out RMSE on `held_out` and
// calls `on_epoch` (progress lines, metrics files). Shows a progress bar with rate and ETA on a
// terminal. Both models run in eval mode (dropout off; the folded student has no batch norm). The
// scales end rounded to multiples of 2^-12 (snap_scales, apps/fat/quantize_model.h), before the
// last held-out measurement. Throws lowbit::Error when the loss stops being finite.
//
// Data parallelism (mpirun): with `train` reading this rank's shard of every batch, each step's
// RMSE is the whole batch's (the ranks sum their squares) and its gradients are summed over the
// ranks, so that every rank takes one process's step; after every epoch the ranks check that they
// hold the same scales and Adam moments (apps/train/data_parallel.h). `held_out` may be sharded.
std::vector<FineTuneEpoch> fine_tune_scales(
    Module& teacher, Module& student, BatchLoader& train, BatchLoader& held_out,
    const FineTuneOptions& options, const std::function<void(const FineTuneEpoch&)>& on_epoch = {});

}  // namespace lowbit
