// One epoch of training: for each batch, schedule, forward, loss, zero_grad, backward, step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace lowbit {

struct EpochResult {
  double loss = 0;      // mean cross-entropy over the epoch's images
  double accuracy = 0;  // percent, on the (augmented) training batches
  double lr = 0;        // the first optimizer's learning rate at the last step
  double seconds = 0;
  int64_t images = 0;
};

// Trains `model` for the epoch `epoch` (0-based) of `loader`; `step` is the global step
// count, advanced by one per batch. Shows a progress bar labelled `label` on a terminal.
// Throws lowbit::Error when the loss stops being finite (divergence), naming the step.
EpochResult train_epoch(Module& model, BatchLoader& loader, int64_t epoch, const std::vector<Optimizer*>& optimizers,
                        LrScheduler& scheduler, int64_t& step, float label_smoothing, const std::string& label);

}  // namespace lowbit
