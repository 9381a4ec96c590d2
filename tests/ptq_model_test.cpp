// Whole-model post-training quantization (models/transforms/ptq_model.h): which tensors each target
// setting touches, per-channel grids on kernels only, codes that decode to the stored values,
// and the snapshot that restores the float model exactly.
#include "models/transforms/ptq_model.h"

#include <catch2/catch.hpp>
#include <memory>

#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/sequential.h"

using namespace lowbit;

namespace {

// conv (4 out, bias) -> BN(4) -> linear: every kind of tensor the quantizer knows, with
// running statistics and BN parameters set away from their defaults.
std::shared_ptr<Sequential> small_net() {
  Rng rng(5);
  auto conv = std::make_shared<Conv2d>(2, 4, 3, Conv2dOptions{}, true, rng);
  auto bn = std::make_shared<BatchNorm>(4);
  auto fc = std::make_shared<Linear>(6, 3, true, rng);
  auto net = std::make_shared<Sequential>();
  net->add(conv).add(bn).add(fc);
  for (int c = 0; c < 4; ++c) {
    bn->weight().data()[c] = 1.0f + 0.1f * static_cast<float>(c);
    bn->bias().data()[c] = 0.01f - 0.07f * static_cast<float>(c);
    bn->running_mean().data()[c] = 0.3f * static_cast<float>(c) - 0.2f;
    bn->running_var().data()[c] = 0.5f + static_cast<float>(c);
  }
  // Channel 0 of the conv much wider than the rest, so per-channel grids matter.
  for (int i = 0; i < 18; ++i) conv->weight().data()[i] *= 20.0f;
  return net;
}

std::vector<float> values(const Tensor& t) {
  return std::vector<float>(t.data(), t.data() + t.numel());
}

}  // namespace

TEST_CASE("model tensors are named and classified by what they are", "[ptq]") {
  auto net = small_net();
  const std::vector<ModelTensor> t = model_tensors(*net);
  REQUIRE(t.size() == 8);
  CHECK(t[0].name == "0.weight");
  CHECK(t[0].role == ParamRole::kWeight);
  CHECK(t[1].role == ParamRole::kBias);
  CHECK(t[2].role == ParamRole::kNormScale);
  CHECK(t[3].role == ParamRole::kNormShift);
  CHECK(t[4].role == ParamRole::kWeight);
  CHECK(t[5].role == ParamRole::kBias);
  CHECK(t[6].name == "1.running_mean");
  CHECK(t[7].name == "1.running_var");
  for (size_t i = 0; i < t.size(); ++i) {
    INFO(t[i].name);
    CHECK(is_kernel(t[i]) == (i == 0 || i == 4));
    CHECK(is_running_statistic(t[i]) == (i >= 6));
    CHECK(t[i].role.has_value() == (i < 6));
  }
}

TEST_CASE("ptq_quantize_model touches exactly the targeted tensors and codes decode to them",
          "[ptq]") {
  auto net = small_net();
  const ModelSnapshot snapshot(*net);
  const std::vector<ModelTensor> before = model_tensors(*net);
  std::vector<std::vector<float>> original;
  for (const ModelTensor& m : before) original.push_back(values(m.tensor));

  PtqSpec spec{PtqScheme::kSymmetric, 3, Granularity::kScalar};
  const PtqModelResult r = ptq_quantize_model(*net, spec, PtqTargets{});  // biases + BN affine
  REQUIRE(r.tensors.size() == 6);
  const std::vector<ModelTensor> after = model_tensors(*net);
  for (size_t i = 0; i < after.size(); ++i) {
    const bool stats = is_running_statistic(after[i]);
    INFO(after[i].name);
    CHECK((values(after[i].tensor) == original[i]) == stats);  // every other tensor changed
  }
  for (const PtqTensor& t : r.tensors) {
    INFO(t.name);
    REQUIRE(t.grids.size() == 1);
    CHECK(t.bits == 3);
    CHECK(t.distinct_values <= 7);
    const float* data = nullptr;
    for (const ModelTensor& m : after) {
      if (m.name == t.name) data = m.tensor.data();
    }
    REQUIRE(data != nullptr);
    for (size_t i = 0; i < t.codes.size(); ++i)
      REQUIRE(ptq_value(t.codes[i], t.grids[0]) == data[i]);
  }

  snapshot.restore();
  for (size_t i = 0; i < after.size(); ++i) CHECK(values(after[i].tensor) == original[i]);

  // Without biases and BN: weights only. With --bn all: the running statistics too.
  PtqTargets weights_only;
  weights_only.biases = false;
  weights_only.bn = PtqBn::kNone;
  CHECK(ptq_quantize_model(*net, spec, weights_only).tensors.size() == 2);
  CHECK(values(after[1].tensor) == original[1]);
  snapshot.restore();
  PtqTargets all;
  all.bn = PtqBn::kAll;
  CHECK(ptq_quantize_model(*net, spec, all).tensors.size() == 8);
  CHECK(values(after[6].tensor) != original[6]);
  snapshot.restore();
}

TEST_CASE("per-channel quantization gives kernels one grid per output channel", "[ptq]") {
  auto net = small_net();
  const ModelSnapshot snapshot(*net);
  const Tensor conv_weight = model_tensors(*net)[0].tensor;
  const PtqModelResult tensor =
      ptq_quantize_model(*net, {PtqScheme::kSymmetric, 2, Granularity::kScalar}, {});
  const std::vector<float> per_tensor = values(conv_weight);
  snapshot.restore();
  const PtqModelResult channel =
      ptq_quantize_model(*net, {PtqScheme::kSymmetric, 2, Granularity::kVector}, {});
  const std::vector<float> per_channel = values(conv_weight);
  CHECK(channel.tensors[0].grids.size() == 4);  // conv: 4 output channels
  CHECK(channel.tensors[4].grids.size() == 3);  // linear: 3 outputs
  CHECK(channel.tensors[1].grids.size() == 1);  // bias: one grid
  CHECK(channel.tensors[2].grids.size() == 1);  // BN scale
  // Channel 0 sets the per-tensor range: the narrow channels 1..3 become all zero per tensor
  // at 2 bits, but keep non-zeros with their own grids.
  int zeros_tensor = 0, zeros_channel = 0;
  for (size_t i = 18; i < per_tensor.size(); ++i) {
    zeros_tensor += per_tensor[i] == 0.0f;
    zeros_channel += per_channel[i] == 0.0f;
  }
  CHECK(zeros_tensor == 54);
  CHECK(zeros_channel < 54);
  for (size_t i = 0; i < 18; ++i) CHECK(per_tensor[i] == per_channel[i]);
  CHECK(tensor.tensors[0].distinct_values <= 3);
  CHECK(channel.tensors[0].distinct_values > 3);
  snapshot.restore();
  CHECK_THROWS_WITH(ptq_quantize_model(*net, {PtqScheme::kAsymmetric, 1, Granularity::kScalar}, {}),
                    Catch::Contains("bit width 1"));
}
