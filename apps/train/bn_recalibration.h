// Batch-norm re-estimation: running statistics recomputed for the weights a model has now.
// During training each BN's running mean and variance are an exponential average over the last
// ~1/momentum batches, taken while the weights were still moving. With weights that jump between
// grid states (DST) and hard activation quantizers after every BN, that lag shifts which side of
// a quantizer threshold values fall on in evaluation; recomputing the statistics with the final
// weights removes it (what PyTorch users do with momentum=None and a pass over training data).
#pragma once

#include <cstdint>

#include "data/batch_loader.h"
#include "layers/module.h"

namespace lowbit {

// Runs up to `max_batches` batches of `loader` (epoch 0, in its order) through `model` without a
// graph, with only the BatchNorm modules in training mode (dropout and everything else in eval).
// Batch k (1-based) enters every BN with momentum 1/k, so the running mean and variance end as
// the plain average of the batches' statistics. Modes and momenta are restored. Returns the
// number of batches used (0 when the model has no BatchNorm: nothing is run). With a sharded loader
// (data parallelism) each rank runs its shards: synchronized BatchNorms then see the whole batches,
// the others their rank's shards (average_batch_norm_statistics, apps/train/data_parallel.h, then
// averages them over the ranks); batches with fewer than two images per rank are skipped.
int64_t recalibrate_batch_norm(Module& model, BatchLoader& loader, int64_t max_batches);

}  // namespace lowbit
