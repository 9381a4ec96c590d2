// BatchLoader: each image once per epoch, batch counts with and without drop_last, shuffling
// per (seed, epoch), reproducible augmentation, prefetch depth not changing a single value,
// clean shutdown mid-epoch, and errors from construction and from the producer thread.
#include "data/batch_loader.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <set>

#include "core/check.h"
#include "tests/synthetic_dataset.h"

using namespace lowbit;

namespace {

constexpr int64_t kC = 3, kH = 4, kW = 5, kImageSize = kC * kH * kW;

// n images whose label is their index and whose pixels are distinct per (image, position) where n
// allows: pixel k of image i is 1 + (i * 61 + k * 7) % 250, never 0, so padding stands out.
Dataset indexed_dataset(int64_t n) {
  return testing::synthetic_dataset(
      "indexed", kC, kH, kW, n, [](int64_t i, int64_t k) { return 1 + (i * 61 + k * 7) % 250; },
      [](int64_t i) { return i; });
}

const Normalization kNorm{{0.1f, 0.2f, 0.3f}, {0.5f, 1.0f, 2.0f}};

BatchLoaderOptions options(int64_t batch_size, bool shuffle = false, bool drop_last = false,
                           int prefetch = 2) {
  BatchLoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.drop_last = drop_last;
  o.prefetch = prefetch;
  return o;
}

struct Epoch {
  std::vector<std::vector<int32_t>> labels;  // per batch
  std::vector<std::vector<float>> images;    // per batch
  std::vector<int32_t> order() const {
    std::vector<int32_t> all;
    for (const auto& l : labels) all.insert(all.end(), l.begin(), l.end());
    return all;
  }
};

Epoch run_epoch(BatchLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  Epoch e;
  Batch batch;
  while (loader.next(batch)) {
    REQUIRE(batch.images.rank() == 4);
    REQUIRE(batch.images.size(0) == static_cast<int64_t>(batch.labels.size()));
    REQUIRE(batch.images.size(1) == kC);
    REQUIRE(batch.images.size(2) == kH);
    REQUIRE(batch.images.size(3) == kW);
    e.labels.push_back(batch.labels);
    e.images.push_back(batch.images.to_vector());
  }
  CHECK_FALSE(loader.next(batch));  // stays over
  return e;
}

// The image a batch row must hold: image `index` of `data` under one crop/flip choice.
std::vector<float> reference(const Dataset& data, int32_t index, int64_t dy, int64_t dx,
                             bool flip) {
  std::vector<float> out(kImageSize);
  normalize_augment(data.pixels.data() + index * kImageSize, kC, kH, kW, kNorm, dy, dx, flip,
                    out.data());
  return out;
}

bool same_bits(const float* a, const std::vector<float>& b) {
  return std::memcmp(a, b.data(), b.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("BatchLoader gives every image once per epoch, labels matching pixels",
          "[data][batch_loader]") {
  const Dataset data = indexed_dataset(10);
  for (bool shuffle : {false, true}) {
    for (int prefetch : {0, 1, 2}) {
      BatchLoader loader(data, kNorm, options(3, shuffle, false, prefetch));
      CHECK(loader.batches_per_epoch() == 4);
      CHECK(loader.size() == 10);
      for (int64_t epoch = 0; epoch < 3; ++epoch) {
        const Epoch e = run_epoch(loader, epoch);
        REQUIRE(e.labels.size() == 4);
        CHECK(e.labels[0].size() == 3);
        CHECK(e.labels[3].size() == 1);  // the last partial batch
        std::vector<int32_t> seen = e.order();
        if (!shuffle) CHECK(seen == data.labels);
        std::sort(seen.begin(), seen.end());
        CHECK(seen == data.labels);
        for (size_t b = 0; b < e.labels.size(); ++b)
          for (size_t j = 0; j < e.labels[b].size(); ++j)
            CHECK(same_bits(e.images[b].data() + j * kImageSize,
                            reference(data, e.labels[b][j], 0, 0, false)));
      }
    }
  }
}

TEST_CASE("BatchLoader drop_last drops only the last partial batch", "[data][batch_loader]") {
  const Dataset data = indexed_dataset(10);
  BatchLoader dropping(data, kNorm, options(3, true, true));
  CHECK(dropping.batches_per_epoch() == 3);
  CHECK(dropping.size() == 9);
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    const Epoch e = run_epoch(dropping, epoch);
    REQUIRE(e.labels.size() == 3);
    for (const auto& l : e.labels) CHECK(l.size() == 3);
    std::vector<int32_t> seen = e.order();
    CHECK(std::set<int32_t>(seen.begin(), seen.end()).size() == 9);  // nine distinct images
  }
  // Nothing to drop when the batch size divides the set; one batch larger than the set.
  CHECK(BatchLoader(data, kNorm, options(5, false, true)).batches_per_epoch() == 2);
  CHECK(BatchLoader(data, kNorm, options(5, false, false)).batches_per_epoch() == 2);
  CHECK(BatchLoader(data, kNorm, options(16, false, false)).batches_per_epoch() == 1);
  CHECK(BatchLoader(data, kNorm, options(16, false, false)).size() == 10);
  CHECK(BatchLoader(data, kNorm, options(16, false, true)).batches_per_epoch() == 0);
  CHECK(BatchLoader(data, kNorm, options(16, false, true)).size() == 0);
  BatchLoader none(data, kNorm, options(16, true, true));
  CHECK(run_epoch(none, 0).labels.empty());
}

TEST_CASE("BatchLoader shuffles per epoch, the same way for the same seed",
          "[data][batch_loader]") {
  const Dataset data = indexed_dataset(50);
  BatchLoaderOptions o = options(8, true);
  o.seed = 11;
  BatchLoader a(data, kNorm, o), b(data, kNorm, o);
  const std::vector<int32_t> a0 = run_epoch(a, 0).order(), a1 = run_epoch(a, 1).order();
  CHECK(a0 != a1);
  CHECK(a0 != data.labels);
  CHECK(run_epoch(b, 0).order() == a0);
  CHECK(run_epoch(b, 1).order() == a1);
  // Resuming at an epoch without the ones before it gives the same order.
  BatchLoader resumed(data, kNorm, o);
  CHECK(run_epoch(resumed, 1).order() == a1);
  o.seed = 12;
  BatchLoader other(data, kNorm, o);
  CHECK(run_epoch(other, 0).order() != a0);
}

TEST_CASE("BatchLoader augmentation is random per image, reproducible per epoch",
          "[data][batch_loader]") {
  const Dataset data = indexed_dataset(40);
  BatchLoaderOptions o = options(6, true);
  o.augment.crop_padding = 2;
  o.augment.horizontal_flip = true;
  o.seed = 5;
  BatchLoader loader(data, kNorm, o);
  const Epoch first = run_epoch(loader, 3);
  CHECK(run_epoch(loader, 3).images == first.images);  // the same epoch started twice
  CHECK(run_epoch(loader, 3).labels == first.labels);

  // Every row is its image under one of the (2p+1)^2 * 2 crop/flip choices, and the choices vary.
  std::set<std::tuple<int64_t, int64_t, bool>> choices;
  for (size_t b = 0; b < first.labels.size(); ++b) {
    for (size_t j = 0; j < first.labels[b].size(); ++j) {
      int matches = 0;
      for (int64_t dy = -2; dy <= 2; ++dy)
        for (int64_t dx = -2; dx <= 2; ++dx)
          for (bool flip : {false, true})
            if (same_bits(first.images[b].data() + j * kImageSize,
                          reference(data, first.labels[b][j], dy, dx, flip))) {
              ++matches;
              choices.emplace(dy, dx, flip);
            }
      CHECK(matches == 1);
    }
  }
  CHECK(choices.size() >= 15);  // 40 draws from 50 choices
  bool flipped = false, shifted = false;
  for (const auto& c : choices) {
    flipped |= std::get<2>(c);
    shifted |= std::get<0>(c) != 0 || std::get<1>(c) != 0;
  }
  CHECK(flipped);
  CHECK(shifted);
  CHECK(run_epoch(loader, 4).images != first.images);  // another epoch draws anew
}

TEST_CASE("BatchLoader prefetch depth changes no value", "[data][batch_loader]") {
  const Dataset data = indexed_dataset(37);
  BatchLoaderOptions o = options(4, true);
  o.augment.crop_padding = 1;
  o.augment.horizontal_flip = true;
  o.seed = 99;
  std::vector<Epoch> runs;
  for (int prefetch : {0, 1, 2, 5}) {
    o.prefetch = prefetch;
    BatchLoader loader(data, kNorm, o);
    runs.push_back(run_epoch(loader, 2));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    CHECK(runs[r].labels == runs[0].labels);
    CHECK(runs[r].images == runs[0].images);
  }
}

TEST_CASE("BatchLoader start_epoch mid-epoch abandons the rest", "[data][batch_loader]") {
  const Dataset data = indexed_dataset(30);
  BatchLoaderOptions o = options(4, true);
  o.augment.crop_padding = 1;
  BatchLoader fresh(data, kNorm, o);
  const Epoch expected = run_epoch(fresh, 1);
  for (int prefetch : {0, 2}) {
    o.prefetch = prefetch;
    BatchLoader loader(data, kNorm, o);
    loader.start_epoch(0);
    Batch batch;
    REQUIRE(loader.next(batch));
    REQUIRE(loader.next(batch));
    const Epoch e = run_epoch(loader, 1);
    CHECK(e.labels == expected.labels);
    CHECK(e.images == expected.images);
  }
}

TEST_CASE("BatchLoader restarted at random points never leaks a batch of another epoch",
          "[data][batch_loader]") {
  // A stress test of the hand-over between start_epoch and the producer: every batch after a
  // restart must be the batch a synchronous loader gives for that epoch and position.
  const Dataset data = indexed_dataset(64);
  BatchLoaderOptions o = options(4, true);
  o.augment.crop_padding = 1;
  o.augment.horizontal_flip = true;
  o.prefetch = 0;
  BatchLoader reference_loader(data, kNorm, o);
  std::vector<Epoch> expected;
  for (int64_t epoch = 0; epoch < 3; ++epoch)
    expected.push_back(run_epoch(reference_loader, epoch));
  o.prefetch = 3;
  BatchLoader loader(data, kNorm, o);
  Batch batch;
  int mismatches = 0;
  for (int round = 0; round < 300; ++round) {
    const int64_t epoch = round % 3;
    loader.start_epoch(epoch);
    for (int k = 0; k < round % 7; ++k) {
      REQUIRE(loader.next(batch));
      const size_t b = static_cast<size_t>(k);
      if (batch.labels != expected[epoch].labels[b] ||
          batch.images.to_vector() != expected[epoch].images[b])
        ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("BatchLoader shuts down cleanly mid-epoch", "[data][batch_loader]") {
  const Dataset data = indexed_dataset(200);
  for (int prefetch : {1, 2, 8}) {
    { BatchLoader never_started(data, kNorm, options(4, true, false, prefetch)); }
    {
      BatchLoader started(data, kNorm, options(4, true, false, prefetch));
      started.start_epoch(0);
    }
    Batch batch;  // outlives its loader
    {
      BatchLoader one_batch(data, kNorm, options(4, true, false, prefetch));
      one_batch.start_epoch(0);
      CHECK(one_batch.next(batch));
      one_batch.start_epoch(1);  // abandons epoch 0 while its batches may be in flight
      CHECK(one_batch.next(batch));
    }
    CHECK(batch.images.size(0) == 4);
  }
  SUCCEED("every loader was joined");
}

TEST_CASE("BatchLoader shards: the ranks' shards of each batch are one process's batch",
          "[data][batch_loader]") {
  // Data parallelism: shard r of `shards` reads its contiguous slice of every batch; together, in
  // rank order, they are the batch one process reads, augmentation included, and a batch smaller
  // than the ranks leaves some shards empty.
  const Dataset data = indexed_dataset(11);
  BatchLoaderOptions whole_options = options(4, true);
  whole_options.augment = AugmentOptions{2, true, false};
  whole_options.seed = 9;
  BatchLoader whole(data, kNorm, whole_options);
  for (int shards : {2, 3, 5}) {
    std::vector<Epoch> parts;
    for (int shard = 0; shard < shards; ++shard) {
      BatchLoaderOptions o = whole_options;
      o.shard = shard;
      o.shards = shards;
      BatchLoader loader(data, kNorm, o);
      CHECK(loader.batches_per_epoch() == whole.batches_per_epoch());
      CHECK(loader.shards() == shards);
      parts.push_back(run_epoch(loader, 3));
    }
    const Epoch reference_epoch = run_epoch(whole, 3);
    for (size_t b = 0; b < reference_epoch.labels.size(); ++b) {
      const int64_t n = static_cast<int64_t>(reference_epoch.labels[b].size());
      std::vector<int32_t> labels;
      std::vector<float> images;
      for (int shard = 0; shard < shards; ++shard) {
        const auto& l = parts[static_cast<size_t>(shard)].labels[b];
        const auto& i = parts[static_cast<size_t>(shard)].images[b];
        CHECK(static_cast<int64_t>(l.size()) ==
              n * (shard + 1) / shards - n * shard / shards);  // floor(n r / shards) boundaries
        labels.insert(labels.end(), l.begin(), l.end());
        images.insert(images.end(), i.begin(), i.end());
      }
      CHECK(labels == reference_epoch.labels[b]);
      CHECK(images == reference_epoch.images[b]);
    }
  }
  // The batch's size over every shard comes with each shard.
  BatchLoaderOptions o = options(4);
  o.shard = 1;
  o.shards = 3;
  BatchLoader loader(data, kNorm, o);
  loader.start_epoch(0);
  Batch batch;
  REQUIRE(loader.next(batch));
  CHECK(batch.global_size == 4);
  CHECK(batch.labels == std::vector<int32_t>{1});
  REQUIRE(loader.next(batch));
  REQUIRE(loader.next(batch));  // the last batch, 3 images: one per shard
  CHECK(batch.global_size == 3);
  CHECK(batch.labels == std::vector<int32_t>{9});
}

TEST_CASE("BatchLoader rejects bad input at construction", "[data][batch_loader]") {
  const Dataset data = indexed_dataset(4);
  Dataset short_pixels = data;
  short_pixels.pixels.resize(short_pixels.pixels.size() - 1);
  CHECK_THROWS_WITH(BatchLoader(short_pixels, kNorm, options(2)),
                    Catch::Contains("'indexed'") && Catch::Contains("239 pixel bytes") &&
                        Catch::Contains("= 240"));
  Dataset extra_label = data;
  extra_label.labels.push_back(0);
  CHECK_THROWS_WITH(BatchLoader(extra_label, kNorm, options(2)),
                    Catch::Contains("5 images x 60 = 300"));
  Dataset no_size = data;
  no_size.height = 0;
  CHECK_THROWS_WITH(BatchLoader(no_size, kNorm, options(2)), Catch::Contains("image size 3x0x5"));
  CHECK_THROWS_WITH(BatchLoader(data, kNorm, options(0)),
                    Catch::Contains("batch_size 0, expected >= 1"));
  CHECK_THROWS_WITH(BatchLoader(data, kNorm, options(-3)), Catch::Contains("batch_size -3"));
  CHECK_THROWS_WITH(BatchLoader(data, kNorm, options(2, false, false, -1)),
                    Catch::Contains("prefetch -1"));
  BatchLoaderOptions bad_pad = options(2);
  bad_pad.augment.crop_padding = -1;
  CHECK_THROWS_WITH(BatchLoader(data, kNorm, bad_pad), Catch::Contains("crop_padding -1"));
  BatchLoaderOptions bad_shard = options(2);
  bad_shard.shard = 2;
  bad_shard.shards = 2;
  CHECK_THROWS_WITH(BatchLoader(data, kNorm, bad_shard),
                    Catch::Contains("shard 2 of 2, expected 0 <= shard < shards"));
  CHECK_THROWS_WITH(
      BatchLoader(data, Normalization{{0.5f}, {0.5f}}, options(2)),
      Catch::Contains("'indexed'") && Catch::Contains("1 means, expected one per channel (3)"));
  CHECK_THROWS_WITH(BatchLoader(data, Normalization{{0, 0, 0}, {1, 0, 1}}, options(2)),
                    Catch::Contains("stddev[1] = 0"));
}

TEST_CASE("BatchLoader errors in use: no epoch, a negative epoch, a dataset changed underneath",
          "[data][batch_loader]") {
  for (int prefetch : {0, 2}) {
    Dataset data = indexed_dataset(10);
    BatchLoader loader(data, kNorm, options(4, false, false, prefetch));
    Batch batch;
    CHECK_THROWS_WITH(loader.next(batch), Catch::Contains("start_epoch"));
    CHECK_THROWS_WITH(loader.start_epoch(-1), Catch::Contains("epoch -1"));
    // The producer thread finds the change; its error reaches the caller, on every call.
    data.pixels.resize(7);
    loader.start_epoch(0);
    CHECK_THROWS_WITH(loader.next(batch), Catch::Contains("changed after the loader was built"));
    CHECK_THROWS_AS(loader.next(batch), Error);
    // Repaired, the next epoch runs normally.
    data = indexed_dataset(10);
    CHECK(run_epoch(loader, 1).order() == data.labels);
  }
}

TEST_CASE("BatchLoader over an empty dataset has no batches", "[data][batch_loader]") {
  Dataset data = indexed_dataset(0);
  for (int prefetch : {0, 2}) {
    BatchLoader loader(data, kNorm, options(4, true, false, prefetch));
    CHECK(loader.batches_per_epoch() == 0);
    CHECK(loader.size() == 0);
    CHECK(run_epoch(loader, 0).labels.empty());
  }
}

// Whether each image (by label = index) appeared flipped in an epoch with crops off.
std::vector<int> flips_by_image(BatchLoader& loader, const Dataset& data, int64_t epoch) {
  const Epoch e = run_epoch(loader, epoch);
  std::vector<int> flipped(static_cast<size_t>(data.size()), -1);
  for (size_t b = 0; b < e.labels.size(); ++b)
    for (size_t j = 0; j < e.labels[b].size(); ++j) {
      const int32_t image = e.labels[b][j];
      const float* row = e.images[b].data() + j * kImageSize;
      const bool plain = same_bits(row, reference(data, image, 0, 0, false));
      const bool mirrored = same_bits(row, reference(data, image, 0, 0, true));
      REQUIRE(plain != mirrored);
      flipped[static_cast<size_t>(image)] = mirrored;
    }
  return flipped;
}

TEST_CASE("BatchLoader alternate flips reverse every image's flip each epoch",
          "[data][batch_loader]") {
  const Dataset data = indexed_dataset(64);
  BatchLoaderOptions o = options(8, true);
  o.augment.horizontal_flip = true;
  o.augment.alternate_flip = true;
  o.seed = 3;
  BatchLoader loader(data, kNorm, o);
  const std::vector<int> e0 = flips_by_image(loader, data, 0), e1 = flips_by_image(loader, data, 1);
  const std::vector<int> e2 = flips_by_image(loader, data, 2), e7 = flips_by_image(loader, data, 7);
  const int64_t flipped0 = std::count(e0.begin(), e0.end(), 1);
  CHECK(flipped0 > 16);  // a coin per image: about half of 64
  CHECK(flipped0 < 48);
  for (size_t i = 0; i < e0.size(); ++i) {
    INFO("image " << i);
    CHECK(e1[i] == 1 - e0[i]);
    CHECK(e2[i] == e0[i]);
    CHECK(e7[i] == e1[i]);
  }
  // Random flips (the default) do not alternate: about half the images keep their flip.
  o.augment.alternate_flip = false;
  BatchLoader random(data, kNorm, o);
  const std::vector<int> r0 = flips_by_image(random, data, 0), r1 = flips_by_image(random, data, 1);
  int64_t kept = 0;
  for (size_t i = 0; i < r0.size(); ++i) kept += r0[i] == r1[i];
  CHECK(kept > 16);
}
