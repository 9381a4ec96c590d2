// BatchLoader: one producer thread and the caller share a bounded queue under one mutex. Batches
// are numbered within the epoch; the producer begins batch k only when k - consumed < prefetch,
// and start_epoch bumps a generation number so that work for an abandoned epoch is dropped.
#include "data/batch_loader.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "core/check.h"
#include "core/rng.h"

namespace lowbit {
namespace {

const BatchLoaderOptions& checked(const Dataset& data, const Normalization& norm,
                                  const BatchLoaderOptions& options) {
  LOWBIT_CHECK(data.channels > 0 && data.height > 0 && data.width > 0, "BatchLoader: dataset '",
               data.name, "' has image size ", data.channels, "x", data.height, "x", data.width,
               ", expected positive");
  const uint64_t expected =
      static_cast<uint64_t>(data.size()) * static_cast<uint64_t>(data.image_bytes());
  LOWBIT_CHECK(data.pixels.size() == expected, "BatchLoader: dataset '", data.name, "' has ",
               data.pixels.size(), " pixel bytes, expected ", data.size(), " images x ",
               data.image_bytes(), " = ", expected);
  LOWBIT_CHECK(options.batch_size >= 1, "BatchLoader: batch_size ", options.batch_size,
               ", expected >= 1");
  LOWBIT_CHECK(options.prefetch >= 0, "BatchLoader: prefetch ", options.prefetch,
               ", expected >= 0");
  LOWBIT_CHECK(options.shards >= 1 && options.shard >= 0 && options.shard < options.shards,
               "BatchLoader: shard ", options.shard, " of ", options.shards,
               ", expected 0 <= shard < shards");
  LOWBIT_CHECK(options.augment.crop_padding >= 0, "BatchLoader: crop_padding ",
               options.augment.crop_padding, ", expected >= 0");
  try {
    check_normalization(norm, data.channels);
  } catch (const Error& e) {
    throw Error(concat("BatchLoader: dataset '", data.name, "': ", e.what()));
  }
  return options;
}

// Independent streams per (seed, epoch): one key for the order, one for the augmentation.
uint64_t epoch_key(uint64_t seed, int64_t epoch) {
  return splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch));
}
constexpr uint64_t kOrderStream = 0x6f72646572ull, kAugmentStream = 0x6175676d656e74ull,
                   kFlipStream = 0x666c6970ull;

}  // namespace

BatchLoader::BatchLoader(const Dataset& data, Normalization norm, BatchLoaderOptions options)
    : data_(data),
      norm_(std::move(norm)),
      options_(checked(data, norm_, options)),
      count_(data.size()),
      channels_(data.channels),
      height_(data.height),
      width_(data.width),
      size_(options_.drop_last ? count_ / options_.batch_size * options_.batch_size : count_),
      batches_((size_ + options_.batch_size - 1) / options_.batch_size) {
  if (options_.prefetch > 0) worker_ = std::thread([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void BatchLoader::start_epoch(int64_t epoch) {
  LOWBIT_CHECK(epoch >= 0, "BatchLoader::start_epoch: epoch ", epoch, ", expected >= 0");
  const uint64_t key = epoch_key(options_.seed, epoch);
  auto order = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(count_));
  std::iota(order->begin(), order->end(), int64_t{0});
  if (options_.shuffle) {  // Fisher-Yates on a generator seeded by (seed, epoch) alone
    Rng rng(splitmix64(key ^ kOrderStream));
    for (int64_t i = count_ - 1; i > 0; --i) {
      std::swap((*order)[static_cast<size_t>(i)],
                (*order)[rng.below(static_cast<uint64_t>(i) + 1)]);
    }
  }
  std::deque<Batch> abandoned;  // released after the lock
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    order_ = std::move(order);
    augment_key_ = splitmix64(key ^ kAugmentStream);
    odd_epoch_ = (epoch & 1) != 0;
    produced_ = consumed_ = 0;
    abandoned.swap(ready_);
    if (!producer_failed_) error_ = nullptr;
  }
  changed_.notify_all();
}

bool BatchLoader::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  LOWBIT_CHECK(started_, "BatchLoader::next: no epoch started, expected start_epoch(epoch) first");
  if (consumed_ >= batches_) return false;
  if (options_.prefetch ==
      0) {  // synchronous: assemble here; an exception goes straight to the caller
    const Job job{generation_, consumed_, order_, augment_key_, odd_epoch_};
    lock.unlock();
    assemble(job, batch);
    lock.lock();
    ++consumed_;
    return true;
  }
  // Batches finished before a failure are still handed out in order; then the error, on every call.
  changed_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);
  batch = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  lock.unlock();
  changed_.notify_all();
  return true;
}

void BatchLoader::produce() {
  std::unique_lock<std::mutex> lock(mutex_);
  try {
    for (;;) {
      changed_.wait(lock, [&] {
        return stop_ || (started_ && !error_ && produced_ < batches_ &&
                         produced_ - consumed_ < options_.prefetch);
      });
      if (stop_) return;
      const Job job{generation_, produced_++, order_, augment_key_, odd_epoch_};
      lock.unlock();
      Batch batch;
      std::exception_ptr error;
      bool complete = false;
      try {
        complete = assemble(job, batch);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (stop_) return;
      if (job.generation != generation_) continue;  // start_epoch abandoned this epoch
      if (error) {
        error_ = error;
      } else if (complete) {
        try {
          ready_.push_back(std::move(batch));
        } catch (...) {
          error_ = std::current_exception();
        }
      }
      changed_.notify_all();
    }
  } catch (...) {  // the lock itself failed: never end the process; next() rethrows from now on
    if (!lock.owns_lock()) lock.lock();
    error_ = std::current_exception();
    producer_failed_ = true;
    changed_.notify_all();
  }
}

bool BatchLoader::assemble(const Job& job, Batch& batch) const {
  const int64_t image_bytes = channels_ * height_ * width_;
  LOWBIT_CHECK(data_.size() == count_ && data_.channels == channels_ && data_.height == height_ &&
                   data_.width == width_ &&
                   data_.pixels.size() == static_cast<size_t>(count_ * image_bytes),
               "BatchLoader: dataset '", data_.name, "' changed after the loader was built (",
               data_.size(), " images, ", data_.pixels.size(), " pixel bytes; expected ", count_,
               " and ", count_ * image_bytes, "); it must outlive the loader unchanged");
  const int64_t whole = std::min(options_.batch_size, size_ - job.index * options_.batch_size);
  // This shard of the batch: its images [first, first + count) of the `whole`.
  const int64_t first = whole * options_.shard / options_.shards;
  const int64_t count = whole * (options_.shard + 1) / options_.shards - first;
  const int64_t begin = job.index * options_.batch_size + first;
  batch.global_size = whole;
  batch.images = Tensor::empty(Shape{count, channels_, height_, width_});
  batch.labels.resize(static_cast<size_t>(count));
  float* out = batch.images.data();
  const int64_t pad = options_.augment.crop_padding;
  const uint64_t flip_key =
      splitmix64(options_.seed ^ kFlipStream);  // alternate_flip's coins: the seed alone
  for (int64_t j = 0; j < count; ++j) {
    if (options_.prefetch > 0 && (stop_.load(std::memory_order_relaxed) ||
                                  generation_.load(std::memory_order_relaxed) != job.generation)) {
      return false;
    }
    const int64_t image = (*job.order)[static_cast<size_t>(begin + j)];
    // The crop offsets and the flip of an image are a pure function of (seed, epoch, image index).
    const uint64_t h0 = splitmix64(job.augment_key ^ splitmix64(static_cast<uint64_t>(image)));
    const uint64_t h1 = splitmix64(h0), h2 = splitmix64(h1);
    const uint64_t span = static_cast<uint64_t>(2 * pad + 1);
    const int64_t dy = pad > 0 ? static_cast<int64_t>(h0 % span) - pad : 0;
    const int64_t dx = pad > 0 ? static_cast<int64_t>(h1 % span) - pad : 0;
    bool flip = options_.augment.horizontal_flip && (h2 >> 63) != 0;
    if (options_.augment.horizontal_flip && options_.augment.alternate_flip) {
      // A coin per image for the whole run (from the seed alone), flipped every odd epoch.
      const uint64_t coin = splitmix64(flip_key ^ splitmix64(static_cast<uint64_t>(image)));
      flip = ((coin >> 63) != 0) != job.odd_epoch;
    }
    normalize_augment(data_.pixels.data() + image * image_bytes, channels_, height_, width_, norm_,
                      dy, dx, flip, out + j * image_bytes);
    batch.labels[static_cast<size_t>(j)] = data_.labels[static_cast<size_t>(image)];
  }
  return true;
}

}  // namespace lowbit
