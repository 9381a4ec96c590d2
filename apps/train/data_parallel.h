// What a data-parallel run (mpirun -np N lowbit-train) does beyond one process's loop, around the
// gradient sums of the training step (core/distributed/gradient_allreduce.h): batch norm
// synchronized or its running statistics averaged over the ranks, and a check after every epoch
// that the ranks still hold the same model. In one process each of them does nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/distributed/communicator.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace lowbit {

// This rank's shard of every batch of `options` (data/batch_loader.h): all of each in one process.
void shard_for_this_rank(BatchLoaderOptions& options);
// make_eval_loader (apps/train/run_setup.h) that reads this rank's shard of every batch: evaluate()
// then sums every rank's shards (apps/train/evaluate.h).
std::unique_ptr<BatchLoader> sharded_eval_loader(const Dataset& data, int64_t batch_size,
                                                 const DatasetInfo& info);

// Makes every BatchNorm of `model` normalize with the statistics of the whole batch over `ranks`
// in training (--sync-bn, layers/batch_norm.h sync_batch_norm); null undoes it. Returns how many.
int64_t synchronize_batch_norms(Module& model, Communicator* ranks);

// Each BatchNorm's running mean and variance replaced by their mean over the ranks, for the
// BatchNorms that normalize with their own rank's statistics (synchronized ones hold the same
// statistics everywhere already). The running statistics are exponential averages, linear in the
// batch statistics, so averaging them once (after an epoch, before they are read) gives what
// averaging the batch statistics at every step would: the average of the shards' means, and of
// their variances (the shards' spread around each other is the part a single process's variance
// has and this lacks).
void average_batch_norm_statistics(Module& model, Communicator& ranks);

// A 64-bit hash of each part of a replica's state: the parameters' values, the buffers (running
// statistics), the optimizers' float state (moments, velocities) and their other state (DST's grid
// states and step count), in that order.
struct ReplicaHashes {
  static constexpr int kParts = 4;
  uint64_t part[kParts] = {};
};
ReplicaHashes replica_hashes(const Module& model, const std::vector<Optimizer*>& optimizers);

// Compares the hashes of every rank's state: they hold the same model only if every part matches.
// Ranks that differ (an all-reduce whose sum is not the same bits on every rank, a transition drawn
// differently) throw CollectiveError on every rank: "<when>, the ranks' states differ (grid states:
// rank 0 5a1f..., rank 1 77c0...)".
void check_replicas_agree(const Module& model, const std::vector<Optimizer*>& optimizers,
                          Communicator& ranks, const std::string& when);

}  // namespace lowbit
