// scale_batch_norms: every BN's output is multiplied by the factor, and nothing else changes.
#include "models/transforms/bn_scaling.h"

#include <catch2/catch.hpp>

#include "core/check.h"
#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/sequential.h"
#include "models/model_zoo.h"

using namespace lowbit;

TEST_CASE("scaling batch norms multiplies each BN output by the factor", "[models]") {
  Rng rng(4);
  auto bn = std::make_shared<BatchNorm>(3);
  for (int64_t c = 0; c < 3; ++c) {
    bn->weight().data()[c] = 0.5f + static_cast<float>(c);
    bn->bias().data()[c] = -0.25f * static_cast<float>(c);
  }
  Tensor x = Tensor::empty({4, 3, 2, 2});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
  const std::vector<float> before = (*bn)(x).to_vector();
  CHECK(scale_batch_norms(*bn, 0.125f) == 1);
  const std::vector<float> after = (*bn)(x).to_vector();
  for (size_t i = 0; i < before.size(); ++i)
    CHECK(after[i] == Approx(0.125f * before[i]).margin(1e-6));
  CHECK(bn->weight().data()[2] == 0.3125f);  // 2.5 / 8, exactly
  CHECK(bn->bias().data()[2] == -0.0625f);
}

TEST_CASE("scaling batch norms reaches every BN of a model and only BNs", "[models]") {
  Rng rng(1);
  ModelOptions options;
  auto resnet = make_model("resnet20", options, rng);
  CHECK(scale_batch_norms(*resnet, 0.5f) ==
        19);  // the stem and two per block (option-A shortcuts have none)
  for (const Parameter& p : resnet->parameters()) {
    if (p.role == ParamRole::kNormScale) CHECK(p.tensor.data()[0] == 0.5f);
  }
  auto lenet = make_model("lenet5", options, rng);  // ReLU LeNet-5 has no BN
  CHECK(scale_batch_norms(*lenet, 0.5f) == 0);
  CHECK_THROWS_WITH(scale_batch_norms(*resnet, 0.0f), Catch::Contains("factor 0"));
  CHECK_THROWS_WITH(scale_batch_norms(*resnet, -2.0f), Catch::Contains("factor -2"));
}
