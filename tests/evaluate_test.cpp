// Evaluation over a data set: the mirror image of a batch, and test-time flip averaging, whose
// logits must be the mean of the two views' logits image by image; split over 3 ranks (this
// program under mpirun), the sums of the whole data set, also for two models evaluated together.
#include "apps/train/evaluate.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>

#include "core/distributed/communicator.h"
#include "core/rng.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "tests/mpi_runs.h"

using namespace lowbit;
using namespace lowbit::testing;

namespace {

// Six 1x2x3 images whose pixels all differ, so that any image differs from its mirror.
Dataset six_images() {
  Dataset d;
  d.name = "tiny";
  d.channels = 1;
  d.height = 2;
  d.width = 3;
  for (int i = 0; i < 6 * 6; ++i) d.pixels.push_back(static_cast<uint8_t>((i * 37) % 251));
  d.labels = {0, 1, 2, 0, 1, 2};
  d.class_names = {"a", "b", "c"};
  return d;
}

std::unique_ptr<BatchLoader> loader_of(const Dataset& d) {
  BatchLoaderOptions options;
  options.batch_size = 4;  // a full and a partial batch
  return std::make_unique<BatchLoader>(d, Normalization{{0.5f}, {0.25f}}, options);
}

}  // namespace

TEST_CASE("mirror_horizontally reverses every row and nothing else", "[apps][evaluate]") {
  const Tensor x = Tensor::from_vector(Shape{1, 2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const Tensor m = mirror_horizontally(x);
  CHECK(m.shape() == x.shape());
  const std::vector<float> expected = {3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10};
  for (size_t i = 0; i < expected.size(); ++i) CHECK(m.data()[i] == expected[i]);
  CHECK_THROWS_WITH(mirror_horizontally(Tensor::zeros(Shape{2, 3})),
                    Catch::Contains("expected (N, C, H, W)"));
}

TEST_CASE("evaluation split over 3 ranks sums to the whole data set's", "[mpi][apps][evaluate]") {
  check_cases_pass_on_ranks(3, "[.][ranks-evaluate]", "evaluation on 3 ranks");
}

TEST_CASE("ranks: each rank evaluates its shards, every rank gets the sums",
          "[.][ranks-evaluate]") {
  // Batches of 4 and 2 images: shards of 1, 1, 2 and 0, 1, 1 (rank 0 has none of the second).
  world().set_timeout(60);
  const Dataset data = six_images();
  Rng rng(2);
  Sequential model;
  model.add(std::make_shared<Flatten>()).add(std::make_shared<Linear>(6, 3, true, rng));
  const Evaluation whole = evaluate(model, *loader_of(data), 3, true);
  BatchLoaderOptions options;
  options.batch_size = 4;
  options.shard = world().rank();
  options.shards = world().size();
  BatchLoader shards(data, Normalization{{0.5f}, {0.25f}}, options);
  const Evaluation summed = evaluate(model, shards, 3, true);
  CHECK(summed.count == 6);
  CHECK(summed.accuracy == whole.accuracy);
  CHECK(summed.confusion == whole.confusion);
  CHECK(summed.loss == Approx(whole.loss).epsilon(1e-6));

  // Two models in one pass (lowbit-quantize's fine-tuned and integer-only models): both sums, and
  // the agreement's counts and largest differences over every rank's images.
  Sequential other;
  other.add(std::make_shared<Flatten>()).add(std::make_shared<Linear>(6, 3, true, rng));
  const PairedEvaluation one = evaluate_pair(model, other, *loader_of(data), 3);
  shards.start_epoch(0);
  const PairedEvaluation split = evaluate_pair(model, other, shards, 3);
  CHECK(split.first.count == 6);
  CHECK(split.first.confusion == one.first.confusion);
  CHECK(split.second.confusion == one.second.confusion);
  CHECK(split.second.loss == Approx(one.second.loss).epsilon(1e-6));
  CHECK(split.agreement.count == 6);
  CHECK(split.agreement.agreeing == one.agreement.agreeing);
  CHECK(split.agreement.max_abs_logit_difference ==
        Approx(one.agreement.max_abs_logit_difference).epsilon(1e-6));
  CHECK(split.agreement.max_abs_logit == Approx(one.agreement.max_abs_logit).epsilon(1e-6));
  CHECK(one.agreement.max_abs_logit_difference > 0);
}

TEST_CASE("flip averaging evaluates the mean of each image's and its mirror's logits",
          "[apps][evaluate]") {
  const Dataset data = six_images();
  Rng rng(11);
  Sequential model;
  model.add(std::make_shared<Flatten>()).add(std::make_shared<Linear>(6, 3, true, rng));

  // The expected logits, image by image, from the model on each view separately.
  const auto plain_loader = loader_of(data);
  std::vector<float> plain, mirrored;
  plain_loader->start_epoch(0);
  Batch batch;
  while (plain_loader->next(batch)) {
    const Tensor a = model(batch.images), b = model(mirror_horizontally(batch.images));
    plain.insert(plain.end(), a.data(), a.data() + a.numel());
    mirrored.insert(mirrored.end(), b.data(), b.data() + b.numel());
  }
  REQUIRE(plain.size() == 18);
  int correct_plain = 0, correct_mean = 0;
  double loss_mean = 0;
  for (int i = 0; i < 6; ++i) {
    int best_plain = 0, best_mean = 0;
    float mean[3];
    for (int k = 0; k < 3; ++k) mean[k] = 0.5f * (plain[i * 3 + k] + mirrored[i * 3 + k]);
    for (int k = 1; k < 3; ++k) {
      if (plain[i * 3 + k] > plain[i * 3 + best_plain]) best_plain = k;
      if (mean[k] > mean[best_mean]) best_mean = k;
    }
    correct_plain += best_plain == data.labels[i];
    correct_mean += best_mean == data.labels[i];
    const double m = std::max({mean[0], mean[1], mean[2]});
    double z = 0;
    for (float v : mean) z += std::exp(v - m);
    loss_mean += -(mean[data.labels[i]] - m - std::log(z)) / 6.0;
  }
  // The two views must disagree somewhere for the test to tell them apart.
  REQUIRE(plain != mirrored);

  const auto loader = loader_of(data);
  const Evaluation off = evaluate(model, *loader, 3);
  const Evaluation on = evaluate(model, *loader, 3, true);
  CHECK(off.accuracy == Approx(100.0 * correct_plain / 6));
  CHECK(on.accuracy == Approx(100.0 * correct_mean / 6));
  CHECK(on.loss == Approx(loss_mean).epsilon(1e-5));
  CHECK(on.loss != Approx(off.loss).epsilon(1e-5));
  CHECK(on.count == 6);
}

TEST_CASE("class_accuracy_json names every class with its accuracy", "[apps][evaluate]") {
  Evaluation e;
  e.num_classes = 3;
  e.count = 7;
  e.confusion = {2, 0, 0,   // a: 2 of 2 right
                 1, 3, 0,   // b: 3 of 4 right
                 0, 1, 0};  // c: 0 of 1 right
  const nlohmann::json j = class_accuracy_json(e, {"a", "b", "c"});
  REQUIRE(j.size() == 3);
  CHECK(j.at("a").get<double>() == Approx(100.0));
  CHECK(j.at("b").get<double>() == Approx(75.0));
  CHECK(j.at("c").get<double>() == Approx(0.0));
  CHECK_THROWS(class_accuracy_json(e, {"a", "b"}));  // a name for every class
}

TEST_CASE("logits that overflow float32 stop the evaluation, naming the image",
          "[apps][evaluate]") {
  const Dataset data = six_images();
  Rng rng(11);
  Sequential model;
  auto linear = std::make_shared<Linear>(6, 3, true, rng);
  model.add(std::make_shared<Flatten>()).add(linear);
  // Weights of 3e38, finite as a damaged or diverged checkpoint may hold them: the first image's
  // first normalized pixel is -2, and -2 * 3e38 overflows float32 to -inf.
  for (const Parameter& p : linear->parameters()) {
    float* w = p.tensor.data();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) w[i] = 3e38f;
  }
  const auto loader = loader_of(data);
  CHECK_THROWS_WITH(evaluate(model, *loader, 3),
                    Catch::StartsWith("evaluate: the model's logit ") &&
                        Catch::Contains(" for image 0 is ") &&
                        Catch::Contains("expected a finite number"));
}
