// The fine-tuning loop of lowbit-quantize (FAT eq. 24-25, section 4.1.2) on an in-memory data set:
// the RMSE of a model against itself is 0, fine-tuning only the scales lowers the held-out RMSE of
// a 3-bit model, leaves every weight as it was, keeps the scales in their clip ranges, restarts the
// learning rate every period, and the metrics CSV has one line per epoch.
#include "apps/fat/quantize_finetune.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "apps/fat/quantize_model.h"
#include "core/rng.h"
#include "data/batch_loader.h"
#include "layers/activations.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "layers/state_dict.h"
#include "models/transforms/calibration.h"

using namespace lowbit;

namespace {

// Random 1x8x8 images.
Dataset random_images(int64_t count, uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "random";
  d.channels = 1;
  d.height = d.width = 8;
  for (int64_t i = 0; i < count * 64; ++i) d.pixels.push_back(static_cast<uint8_t>(rng.below(256)));
  d.labels.assign(static_cast<size_t>(count), 0);
  d.class_names = {"only"};
  return d;
}

std::shared_ptr<Sequential> small_net(uint64_t seed) {
  Rng rng(seed);
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(1, 6, 3, Conv2dOptions{1, 1, 1}, true, rng))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Conv2d>(6, 8, 3, Conv2dOptions{1, 1, 1}, true, rng))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Linear>(8 * 4 * 4, 5, true, rng));
  return net;
}

}  // namespace

TEST_CASE("quantize_finetune: training the scales lowers the held-out RMSE of a 3-bit model",
          "[quantize_finetune]") {
  const Normalization norm{{0.5f}, {0.25f}};
  const Dataset train = random_images(200, 1), held = random_images(100, 2);
  BatchLoaderOptions o;
  o.batch_size = 20;
  BatchLoader eval_train(train, norm, o), held_out(held, norm, o);
  o.shuffle = true;
  o.seed = 3;
  BatchLoader train_loader(train, norm, o);

  auto teacher = small_net(7), student = small_net(7);
  teacher->eval();
  CHECK(logits_rmse(*teacher, *student, held_out) == 0.0);

  std::vector<Tensor> calibration;
  Batch batch;
  eval_train.start_epoch(0);
  while (eval_train.next(batch)) calibration.push_back(batch.images);
  UniformQuantizationOptions q;
  q.weight_bits = q.input_bits = 3;
  q.pointwise_weight_scales = true;
  attach_calibrated_quantizers(*student, calibration, q);
  std::vector<std::vector<float>> weights;
  for (const Parameter& p : student->parameters())
    if (p.role != ParamRole::kQuantScale) weights.push_back(p.tensor.to_vector());

  const double naive = logits_rmse(*teacher, *student, held_out);
  FineTuneOptions options;
  options.epochs = 4;
  options.lr = 0.01f;
  options.restart_epochs = 2;
  options.restart_mult = 1;
  int calls = 0;
  const std::vector<FineTuneEpoch> history = fine_tune_scales(
      *teacher, *student, train_loader, held_out, options, [&](const FineTuneEpoch&) { ++calls; });
  REQUIRE(history.size() == 4);
  CHECK(calls == 4);
  const double tuned = logits_rmse(*teacher, *student, held_out);
  INFO("held-out RMSE: naive " << naive << ", fine-tuned " << tuned);
  CHECK(tuned == Approx(history.back().held_out_rmse));
  CHECK(tuned < 0.9 * naive);

  // Only the scales moved, and they stay in range; the learning rate ends each 2-epoch period near
  // 0.
  size_t k = 0;
  for (const Parameter& p : student->parameters()) {
    if (p.role == ParamRole::kQuantScale) {
      for (float v : p.tensor.to_vector()) {
        CHECK((v >= 0.5f && v <= 1.25f));
        CHECK(v * 4096.0f == std::round(v * 4096.0f));  // snapped to 2^-12 at the end
      }
    } else {
      CHECK(p.tensor.to_vector() == weights.at(k++));
    }
  }
  CHECK(history[1].lr < 0.01 * options.lr);
  CHECK(history[3].lr < 0.01 * options.lr);
  CHECK(history[0].lr > 0.1 * options.lr);  // the first half of a period
  const std::string csv = fine_tune_metrics_csv(history);
  CHECK(csv.rfind("epoch,train_rmse,held_out_rmse,lr,seconds,images_per_second\n1,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
}
