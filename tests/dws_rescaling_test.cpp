// Depthwise-separable rescaling (FAT section 3.3.1): a hand-computed pair (a locked channel, a
// rescaled one, a capped one), MobileNet-v2 with random BN statistics folded then rescaled (same
// outputs, depthwise filter ranges closer), and the errors.
#include "models/transforms/dws_rescaling.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/sequential.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/transforms/bn_folding.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using lowbit::testing::random_tensor;

namespace {

Tensor eval(Module& model, const Tensor& x) {
  NoGradGuard no_grad;
  return model(x);
}

double relative_max_difference(const Tensor& a, const Tensor& b) {
  double d = 0.0, m = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]));
    m = std::max(m, std::fabs(static_cast<double>(b.data()[i])));
  }
  return d / m;
}

// depthwise 1x1 (2 channels, weights w) -> ReLU6 -> 1x1 conv to one channel (weights 1, 2).
std::shared_ptr<Sequential> pair(Rng& rng, float w0, float w1) {
  auto net = std::make_shared<Sequential>();
  auto dws = std::make_shared<Conv2d>(2, 2, 1, Conv2dOptions{1, 0, 2}, true, rng);
  dws->weight().copy_from(Tensor::from_vector({2}, {w0, w1}));
  dws->bias().fill(0.0f);
  auto next = std::make_shared<Conv2d>(2, 1, 1, Conv2dOptions{}, false, rng);
  next->weight().copy_from(Tensor::from_vector({2}, {1.0f, 2.0f}));
  net->add(dws).add(std::make_shared<ReLU6>()).add(next);
  return net;
}

}  // namespace

TEST_CASE("dws_rescaling: a locked channel sets T_0, the other is rescaled to it (steps 1-5)",
          "[dws_rescaling]") {
  Rng rng(1);
  auto net = pair(rng, 2.0f, 0.5f);
  // Channel 0 reaches 2 * 3 = 6 >= 5.9: locked. Channel 1 reaches 0.5 * 2 = 1.
  const Tensor x = Tensor::from_vector({1, 2, 1, 3}, {3.0f, -1.0f, 0.5f, 2.0f, -2.0f, 1.0f});
  const Tensor before = eval(*net, x);
  const std::vector<DwsRescaling> r = rescale_depthwise_separable(*net, {x});
  REQUIRE(r.size() == 1);
  CHECK(r[0].depthwise == "0");
  CHECK(r[0].next == "2");
  CHECK(r[0].locked == 1);
  CHECK(r[0].t0 == 2.0);                                 // the locked filter's max|w|
  CHECK(r[0].scales == std::vector<float>{1.0f, 4.0f});  // T_0 / T_1 = 4, below the cap 5.9 / 1
  CHECK(r[0].spread_before == 4.0);
  CHECK(r[0].spread_after == 1.0);
  auto& dws = dynamic_cast<Conv2d&>((*net)[0]);
  auto& next = dynamic_cast<Conv2d&>((*net)[2]);
  CHECK(dws.weight().to_vector() == std::vector<float>{2.0f, 2.0f});
  CHECK(next.weight().to_vector() == std::vector<float>{1.0f, 0.5f});
  CHECK(eval(*net, x).to_vector() == before.to_vector());
}

TEST_CASE("dws_rescaling: step 6 caps a factor so that the channel stays below the lock limit",
          "[dws_rescaling]") {
  Rng rng(2);
  auto net = pair(rng, 2.0f, 0.5f);
  // Channel 1 now reaches 0.5 * 4 = 2: the factor 4 would take it to 8, the cap is 5.9 / 2 = 2.95.
  const Tensor x = Tensor::from_vector({1, 2, 1, 2}, {3.0f, 0.0f, 4.0f, -4.0f});
  const Tensor before = eval(*net, x);
  const std::vector<DwsRescaling> r = rescale_depthwise_separable(*net, {x});
  REQUIRE(r.size() == 1);
  CHECK(r[0].scales[0] == 1.0f);
  CHECK(r[0].scales[1] == Approx(2.95f).epsilon(1e-6));
  CHECK(relative_max_difference(eval(*net, x), before) <= 1e-6);
  // With a lock limit of 5, channel 0 (6 >= 5) is locked again and the cap of channel 1 is 5 / 2.
  auto again = pair(rng, 2.0f, 0.5f);
  const std::vector<DwsRescaling> r5 = rescale_depthwise_separable(*again, {x}, 5.0f);
  CHECK(r5[0].locked == 1);
  CHECK(r5[0].scales[1] == Approx(2.5f).epsilon(1e-6));
}

TEST_CASE(
    "dws_rescaling: MobileNet-v2, BN folded then rescaled, computes the same outputs with closer "
    "filter ranges",
    "[dws_rescaling]") {
  Rng rng(3);
  ModelOptions o;
  std::shared_ptr<Module> model = make_model("mobilenetv2", o, rng);
  // Random statistics; the BNs after depthwise convolutions get shifts up to 8, so that some of
  // their channels pass ReLU6's 6 (and lock) while others stay below it.
  bool after_depthwise = false;
  for_each_module(*model, [&](Module& m) {
    auto* bn = dynamic_cast<BatchNorm*>(&m);
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) after_depthwise = conv->options().groups > 1;
    if (!bn) return;
    for (int64_t c = 0; c < bn->channels(); ++c) {
      bn->weight().data()[c] = rng.uniform(0.5f, 1.5f);
      bn->bias().data()[c] = after_depthwise ? rng.uniform(-1.0f, 8.0f) : rng.uniform(-0.5f, 1.5f);
      bn->running_mean().data()[c] = rng.uniform(-0.5f, 0.5f);
      bn->running_var().data()[c] = rng.uniform(0.05f, 2.0f);
    }
  });
  const std::vector<Tensor> calibration{random_tensor({4, 3, 32, 32}, rng, -2.0f, 2.0f),
                                        random_tensor({4, 3, 32, 32}, rng, -2.0f, 2.0f)};
  fold_batch_norms(*model, calibration[0]);
  model->eval();
  std::vector<Tensor> before;
  for (const Tensor& b : calibration) before.push_back(eval(*model, b));

  const std::vector<DwsRescaling> r = rescale_depthwise_separable(*model, calibration);
  CHECK(r.size() == 17);  // one depthwise convolution in each inverted residual block
  int64_t locked = 0, channels = 0;
  double log_before = 0.0, log_after = 0.0;
  int64_t off_target = 0;
  for (const DwsRescaling& p : r) {
    INFO(p.depthwise << " -> " << p.next << ": spread " << p.spread_before << " -> "
                     << p.spread_after << ", locked " << p.locked << " of " << p.channels);
    CHECK(p.spread_after <= p.spread_before);
    for (size_t k = 0; k < p.scales.size(); ++k) {
      const double before = p.filter_max_before[k], after = p.filter_max_after[k];
      if (p.locked_channels[k]) {
        CHECK(after == before);  // step 3: locked filters stay unchanged
        continue;
      }
      // Step 5 takes a filter to T_0 unless step 6 capped its factor; a capped one still moves
      // towards T_0.
      const bool capped = std::fabs(after - p.t0) > 1e-5 * p.t0;
      off_target +=
          capped && std::fabs(std::log(after / p.t0)) >= std::fabs(std::log(before / p.t0));
    }
    locked += p.locked;
    channels += p.channels;
    log_before += std::log(p.spread_before);
    log_after += std::log(p.spread_after);
  }
  // The geometric mean of max_k T_k / min_k T_k over the 17 layers.
  const double mean_before = std::exp(log_before / 17.0), mean_after = std::exp(log_after / 17.0);
  INFO("locked " << locked << " of " << channels << " channels; spread (geometric mean) "
                 << mean_before << " -> " << mean_after);
  CHECK(locked > 0);
  CHECK(locked < channels);
  CHECK(off_target == 0);
  // Locked filters keep their own spread, so the layers' max/min ratios shrink less than the
  // rescaled filters do (25 -> 16 here; 25 -> 1.1 when nothing locks).
  CHECK(mean_after < 0.75 * mean_before);
  for (size_t i = 0; i < calibration.size(); ++i) {
    const double d = relative_max_difference(eval(*model, calibration[i]), before[i]);
    INFO("batch " << i << ": max |rescaled - original| / max |original| = " << d);
    CHECK(d <= 1e-4);
  }
}

TEST_CASE("dws_rescaling: errors", "[dws_rescaling]") {
  Rng rng(4);
  auto net = pair(rng, 1.0f, 1.0f);
  const Tensor x = random_tensor({1, 2, 2, 2}, rng);
  CHECK_THROWS_WITH(rescale_depthwise_separable(*net, {}),
                    Catch::Contains("no calibration batches"));
  CHECK_THROWS_WITH(rescale_depthwise_separable(*net, {x}, 7.0f), Catch::Contains("lock limit 7"));
  auto q = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true), 1);
  q->set_threshold({1.0f});
  dynamic_cast<Conv2d&>((*net)[2]).set_weight_quantizer(q);
  CHECK_THROWS_WITH(rescale_depthwise_separable(*net, {x}),
                    Catch::Contains("'2' has a weight quantizer"));

  // A BN between the depthwise convolution and ReLU6 that is not folded.
  Sequential unfolded;
  unfolded.add(std::make_shared<Conv2d>(2, 2, 3, Conv2dOptions{1, 1, 2}, false, rng))
      .add(std::make_shared<BatchNorm>(2))
      .add(std::make_shared<ReLU6>())
      .add(std::make_shared<Conv2d>(2, 3, 1, Conv2dOptions{}, false, rng));
  CHECK_THROWS_WITH(rescale_depthwise_separable(unfolded, {x}),
                    Catch::Contains("'1' after depthwise '0' is not folded"));
  fold_batch_norms(unfolded, x);
  CHECK(rescale_depthwise_separable(unfolded, {x}).size() == 1);
}
