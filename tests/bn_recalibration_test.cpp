// Batch-norm re-estimation: after it, the running statistics are exactly the average of the
// batches' statistics (momentum 1/k), only BN ran in training mode, and modes and momenta are
// restored.
#include "apps/train/bn_recalibration.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <vector>

#include "layers/batch_norm.h"
#include "layers/dropout.h"
#include "layers/sequential.h"
#include "tests/synthetic_dataset.h"

namespace {

using namespace lowbit;

constexpr int64_t kC = 2, kSide = 3;

// n two-channel 3x3 images with spread-out pixel values.
Dataset small_images(int64_t n) {
  Dataset d = testing::synthetic_dataset(
      "small", kC, kSide, kSide, n,
      [](int64_t i, int64_t k) { return (i * 37 + k * k * 11) % 256; }, [](int64_t) { return 0; });
  d.class_names = {"only"};
  return d;
}

// Per channel: the mean over the batches of each batch's mean and unbiased variance over (N, H, W).
void average_batch_statistics(BatchLoader& loader, std::vector<double>& mean,
                              std::vector<double>& var) {
  mean.assign(kC, 0.0);
  var.assign(kC, 0.0);
  loader.start_epoch(0);
  Batch batch;
  int64_t batches = 0;
  while (loader.next(batch)) {
    ++batches;
    const int64_t n = batch.images.size(0), plane = kSide * kSide, m = n * plane;
    for (int64_t c = 0; c < kC; ++c) {
      double s = 0, s2 = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < plane; ++q) {
          const double v = batch.images.data()[(i * kC + c) * plane + q];
          s += v;
          s2 += v * v;
        }
      const double mu = s / static_cast<double>(m);
      mean[static_cast<size_t>(c)] += mu;
      var[static_cast<size_t>(c)] +=
          (s2 - static_cast<double>(m) * mu * mu) / static_cast<double>(m - 1);
    }
  }
  for (int64_t c = 0; c < kC; ++c) {
    mean[static_cast<size_t>(c)] /= static_cast<double>(batches);
    var[static_cast<size_t>(c)] /= static_cast<double>(batches);
  }
}

// Twelve images in batches of four, in order.
struct SmallLoader {
  Dataset data = small_images(12);
  BatchLoader loader{data, Normalization{{0.5f, 0.4f}, {0.25f, 0.3f}}, options()};
  static BatchLoaderOptions options() {
    BatchLoaderOptions o;
    o.batch_size = 4;
    o.prefetch = 0;
    return o;
  }
};

}  // namespace

TEST_CASE("batch-norm re-estimation leaves the average of the batches' statistics",
          "[apps][batch_norm]") {
  SmallLoader small;
  BatchLoader& loader = small.loader;

  // Dropout before the BN: had it run in training mode, the BN would see zeroed, rescaled inputs.
  auto bn = std::make_shared<BatchNorm>(kC, 0.1f);
  Sequential model;
  model.add(std::make_shared<Dropout>(0.5f)).add(bn);
  bn->running_mean().fill(7.0f);
  bn->running_var().fill(9.0f);
  model.train(true);

  CHECK(recalibrate_batch_norm(model, loader, 100) == 3);
  std::vector<double> mean, var;
  average_batch_statistics(loader, mean, var);
  for (int64_t c = 0; c < kC; ++c) {
    CHECK(bn->running_mean().data()[c] == Approx(mean[static_cast<size_t>(c)]).epsilon(1e-5));
    CHECK(bn->running_var().data()[c] == Approx(var[static_cast<size_t>(c)]).epsilon(1e-5));
  }
  CHECK(bn->momentum() == 0.1f);
  CHECK(model.is_training());
  CHECK(bn->is_training());
}

TEST_CASE("batch-norm re-estimation stops after the batches asked for", "[apps][batch_norm]") {
  SmallLoader small;
  BatchLoader& loader = small.loader;
  auto bn = std::make_shared<BatchNorm>(kC);
  Sequential model;
  model.add(bn);
  model.eval();
  CHECK(recalibrate_batch_norm(model, loader, 1) == 1);
  CHECK_FALSE(model.is_training());
  CHECK_FALSE(bn->is_training());
  // One batch with momentum 1: its statistics replace the initial (0, 1) entirely.
  CHECK(bn->running_mean().data()[0] != 0.0f);
  CHECK_THROWS_WITH(recalibrate_batch_norm(model, loader, 0), Catch::Contains("max_batches 0"));
}
