// lowbit-demo: the engine end to end on a synthetic task that needs no download.
// A small CNN (conv-BN-ReLU-pool, conv-BN-ReLU, global pool, linear) learns to tell the
// orientation of noisy stripe patterns; Adam with cosine annealing; prints each epoch.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/train/train_epoch.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/losses.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "optim/schedule.h"

using namespace lowbit;

namespace {

constexpr int kSize = 16;    // image side
constexpr int kClasses = 4;  // stripe orientations: 0, 45, 90, 135 degrees

// Stripes at the class's angle with a random frequency and phase, plus Gaussian noise: images
// (count, 1, kSize, kSize).
Batch make_stripes(int count, Rng& rng, float noise) {
  Batch b{Tensor::empty({count, 1, kSize, kSize}),
          std::vector<int32_t>(static_cast<size_t>(count))};
  for (int n = 0; n < count; ++n) {
    const int label = static_cast<int>(rng.below(kClasses));
    b.labels[static_cast<size_t>(n)] = label;
    const float angle = static_cast<float>(M_PI) * static_cast<float>(label) / kClasses;
    const float freq = rng.uniform(0.5f, 1.2f), phase = rng.uniform(0.0f, 6.2832f);
    const float cx = std::cos(angle), cy = std::sin(angle);
    float* img = b.images.data() + static_cast<int64_t>(n) * kSize * kSize;
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x)
        img[y * kSize + x] = std::sin(freq * (cx * x + cy * y) + phase) + noise * rng.normal();
  }
  return b;
}

std::shared_ptr<Sequential> make_model(Rng& rng) {
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(1, 8, 3, Conv2dOptions{1, 1, 1}, false, rng))
      .add(std::make_shared<BatchNorm>(8))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Conv2d>(8, 16, 3, Conv2dOptions{1, 1, 1}, false, rng))
      .add(std::make_shared<BatchNorm>(16))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<GlobalAvgPool>())
      .add(std::make_shared<Linear>(16, kClasses, true, rng));
  return net;
}

// Percent of the rows of `logits` whose arg-max is the label.
float accuracy(const Tensor& logits, const std::vector<int32_t>& labels) {
  return 100.0f * static_cast<float>(count_correct(logits, labels)) /
         static_cast<float>(labels.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit-demo: train a small CNN on synthetic stripe images (no data needed)"};
  int epochs = 8, steps_per_epoch = 40, batch_size = 64, threads = 0;
  uint64_t seed = 0;
  float lr = 0.01f, noise = 0.8f;
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::Range(1, 100000));
  app.add_option("--steps", steps_per_epoch, "batches per epoch")->check(CLI::Range(1, 100000));
  add_batch_size_flag(app, batch_size);
  app.add_option("--lr", lr, "Adam learning rate")->check(real_range(0.0, 10.0));
  app.add_option("--noise", noise, "standard deviation of the pixel noise")
      ->check(real_range(0.0, 10.0));
  add_threads_flag(app, threads);
  app.add_option("--seed", seed, "random seed");
  return run_cli(app, argc, argv, "lowbit-demo", [&]() -> int {
    set_num_threads(threads);
    Rng rng(seed);
    auto model = make_model(rng);
    Adam adam(model->parameters(), AdamOptions{lr});
    ScheduleConfig schedule;
    schedule.kind = ScheduleKind::kCosine;
    schedule.total_steps = static_cast<int64_t>(epochs) * steps_per_epoch;
    LrScheduler scheduler({&adam}, schedule);
    const Batch test = make_stripes(1000, rng, noise);

    std::printf("lowbit-demo: %d epochs x %d batches of %d, %d threads, seed %llu\n", epochs,
                steps_per_epoch, batch_size, num_threads(), static_cast<unsigned long long>(seed));
    std::printf("%5s %10s %10s %10s %12s\n", "epoch", "loss", "train_acc", "test_acc", "images/s");
    float test_acc = 0;
    int64_t step = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      model->train();
      double loss_sum = 0, acc_sum = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int s = 0; s < steps_per_epoch; ++s, ++step) {
        scheduler.apply(step);
        const Batch batch = make_stripes(batch_size, rng, noise);
        Tensor logits = model->forward(batch.images);
        Tensor loss = cross_entropy(logits, batch.labels);
        adam.zero_grad();
        backward(loss);
        adam.step();
        loss_sum += loss.item();
        acc_sum += accuracy(logits, batch.labels);
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      model->eval();
      {
        NoGradGuard no_grad;
        test_acc = accuracy(model->forward(test.images), test.labels);
      }
      std::printf("%5d %10.4f %9.2f%% %9.2f%% %12.0f\n", epoch, loss_sum / steps_per_epoch,
                  acc_sum / steps_per_epoch, test_acc, steps_per_epoch * batch_size / seconds);
    }
    std::printf("final test accuracy: %.2f%% on 1000 held-out images (chance: %.0f%%)\n", test_acc,
                100.0 / kClasses);
    return 0;
  });
}
