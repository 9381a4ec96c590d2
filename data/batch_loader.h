// BatchLoader: an epoch of normalized, augmented (B, C, H, W) float batches from a uint8 Dataset,
// assembled ahead of the training loop by one background thread into a small bounded queue.
// Every order and every crop/flip is a pure function of (seed, epoch, image index).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/augment.h"
#include "data/dataset.h"

namespace lowbit {

struct Batch {
  Tensor images;  // (B, C, H, W) float
  std::vector<int32_t> labels;
  // The images of the whole batch, over every shard (B without sharding).
  int64_t global_size = 0;
};

struct BatchLoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = false;    // new order every epoch (training)
  bool drop_last = false;  // training may drop a last partial batch; evaluation never does
  AugmentOptions augment;  // none for evaluation
  uint64_t seed = 0;
  int prefetch = 2;  // batches assembled ahead by a background thread (0: synchronous)
  // Data parallelism: this process reads shard `shard` of `shards` of every batch, the images
  // [floor(shard n / shards), floor((shard + 1) n / shards)) of a batch of n, in the order one
  // process reads the whole batch. The shards of the ranks together are exactly one process's
  // batches, whatever the number of ranks; a shard may be empty (n < shards).
  int shard = 0, shards = 1;
};

// One consumer thread calls start_epoch / next. The producer thread runs no OpenMP (the training
// loop owns the OpenMP threads) and its exceptions are rethrown by next().
class BatchLoader {
 public:
  // Keeps a reference to `data`, which must outlive the loader unchanged. Throws on an inconsistent
  // dataset, batch_size < 1, prefetch < 0, crop_padding < 0 or a normalization of the wrong size.
  BatchLoader(const Dataset& data, Normalization norm, BatchLoaderOptions options);
  ~BatchLoader();  // stops and joins the background thread, even mid-epoch
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts epoch `epoch` (0-based): the order and every random crop/flip derive from (seed, epoch)
  // only, so a run resumed at epoch e sees exactly the batches an uninterrupted run saw, whatever
  // the thread count or prefetch depth. May be called again mid-epoch (abandons the rest).
  void start_epoch(int64_t epoch);
  // The next batch of the epoch; false when the epoch is over. Throws if no epoch was started.
  bool next(Batch& batch);
  int64_t batches_per_epoch() const { return batches_; }
  int64_t size() const { return size_; }  // images per epoch (after drop_last), all shards
  int shards() const { return options_.shards; }

 private:
  // What the producer needs for one batch, copied under the lock.
  struct Job {
    uint64_t generation;
    int64_t index;  // batch number within the epoch
    std::shared_ptr<const std::vector<int64_t>> order;
    uint64_t augment_key;
    bool odd_epoch;  // alternate_flip: every image's flip is reversed in odd epochs
  };

  void produce();  // the background thread
  // Fills `batch`; false when a newer epoch or the destructor cancelled it part way.
  bool assemble(const Job& job, Batch& batch) const;

  const Dataset& data_;
  const Normalization norm_;
  const BatchLoaderOptions options_;
  const int64_t count_, channels_, height_, width_;  // the dataset as validated at construction
  const int64_t size_, batches_;

  // Epoch state, guarded by mutex_ (generation_ and stop_ are also read without it, to cancel
  // early).
  std::mutex mutex_;
  std::condition_variable changed_;  // a batch is ready, a slot is free, an epoch started, or stop
  bool started_ = false;
  std::atomic<uint64_t> generation_{
      0};  // bumped by start_epoch: batches of an older one are dropped
  std::atomic<bool> stop_{false};
  std::shared_ptr<const std::vector<int64_t>> order_;
  uint64_t augment_key_ = 0;
  bool odd_epoch_ = false;
  int64_t produced_ = 0, consumed_ = 0;  // batches begun by the producer / returned by next()
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool producer_failed_ =
      false;            // the producer thread has exited on an error it could not recover from
  std::thread worker_;  // last: started once everything above is initialized
};

}  // namespace lowbit
