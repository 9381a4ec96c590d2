// The model zoo: every model builds and maps a batch to class scores; parameter counts
// match the published architectures; resnet18's weights follow Table 5 of the
// power-of-two paper; unknown names list the known ones.
#include "models/model_zoo.h"

#include <catch2/catch.hpp>
#include <map>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/quant/pow2_activation.h"
#include "models/summary.h"
#include "tests/zoo_options.h"

using namespace lowbit;

namespace {

int64_t count_parameters(const Module& m) {
  int64_t n = 0;
  for (const Parameter& p : m.parameters()) n += p.tensor.numel();
  return n;
}

// How many modules of each type the tree holds.
void count_types(const Module& m, std::map<std::string, int>& counts) {
  counts[m.type_name()]++;
  for (const auto& child : m.children()) count_types(*child.second, counts);
}

std::map<std::string, int> count_types(const Module& m) {
  std::map<std::string, int> counts;
  count_types(m, counts);
  return counts;
}

}  // namespace

TEST_CASE("every model maps (N, C, H, W) to (N, classes)", "[models]") {
  for (const std::string& name : model_names()) {
    DYNAMIC_SECTION(name) {
      const ModelOptions o = testing::zoo_options(name);
      Rng rng(0);
      auto model = make_model(name, o, rng);
      NoGradGuard no_grad;
      model->eval();
      Tensor y = (*model)(Tensor::zeros({2, o.in_channels, o.image_size, o.image_size}));
      CHECK(y.shape() == Shape({2, 10}));
    }
  }
}

TEST_CASE("parameter counts match the published architectures", "[models]") {
  // Reference counts of the same architectures for 10 classes (common PyTorch
  // implementations). The VGGs here have no bias in convolutions followed by batch norm
  // (it is redundant there); implementations that keep it count 2,752 (vgg11) and 4,224
  // (vgg16) parameters more.
  const std::map<std::string, int64_t> expected = {
      {"lenet5", 61706},        {"vgg7", 12980106},     {"vgg11", 9228362},
      {"vgg16", 14724042},      {"resnet18", 11173962}, {"resnet34", 21282122},
      {"resnet50", 23520842},   {"resnet20", 269722},   {"resnet56", 853018},
      {"mobilenetv2", 2236682},
  };
  for (const auto& [name, count] : expected) {
    const ModelOptions o = testing::zoo_options(name);
    Rng rng(0);
    INFO(name);
    CHECK(count_parameters(*make_model(name, o, rng)) == count);
  }
}

TEST_CASE("resnet18's convolution weights are the 20 of Table 5, in order", "[models]") {
  const std::vector<std::vector<int64_t>> table5 = {
      {64, 3, 3, 3},    {64, 64, 3, 3},   {64, 64, 3, 3},   {64, 64, 3, 3},   {64, 64, 3, 3},
      {128, 64, 3, 3},  {128, 128, 3, 3}, {128, 64, 1, 1},  {128, 128, 3, 3}, {128, 128, 3, 3},
      {256, 128, 3, 3}, {256, 256, 3, 3}, {256, 128, 1, 1}, {256, 256, 3, 3}, {256, 256, 3, 3},
      {512, 256, 3, 3}, {512, 512, 3, 3}, {512, 256, 1, 1}, {512, 512, 3, 3}, {512, 512, 3, 3}};
  Rng rng(0);
  auto model = make_model("resnet18", ModelOptions{}, rng);
  std::vector<Shape> conv_weights;
  std::vector<Shape> linear_weights;
  for (const Parameter& p : model->parameters()) {
    if (p.role != ParamRole::kWeight) continue;
    (p.tensor.rank() == 4 ? conv_weights : linear_weights).push_back(p.tensor.shape());
  }
  REQUIRE(conv_weights.size() == 20);
  for (size_t i = 0; i < 20; ++i) CHECK(conv_weights[i] == Shape(table5[i]));
  REQUIRE(linear_weights.size() == 1);
  CHECK(linear_weights[0] == Shape({10, 512}));
}

TEST_CASE("the summary counts layers, parameters and MACs", "[models]") {
  Rng rng(0);
  auto lenet = make_model("lenet5", testing::zoo_options("lenet5"), rng);
  const ModelSummary s = summarize(*lenet, 1, 28);
  CHECK(s.parameters == 61706);
  // conv1 28*28*6*25 + conv2 10*10*16*150 + fc 400*120 + 120*84 + 84*10
  CHECK(s.macs == 117600 + 240000 + 48000 + 10080 + 840);
  REQUIRE(s.layers.size() == 12);
  CHECK(s.layers[0].name == "conv1");
  CHECK(s.layers[0].output_shape == Shape({6, 28, 28}));
  CHECK(format_summary(s).find("61,706") != std::string::npos);
  CHECK(lenet->is_training());
}

TEST_CASE("an unknown model name lists the known ones", "[models]") {
  Rng rng(0);
  CHECK_THROWS_WITH(make_model("resnet19", ModelOptions{}, rng), Catch::Contains("resnet19") &&
                                                                     Catch::Contains("resnet18") &&
                                                                     Catch::Contains("lenet5"));
  ModelOptions bad;
  bad.image_size = 64;
  CHECK_THROWS_AS(make_model("resnet18", bad, rng), Error);
}

// The float activations of each model: lenet5 4; VGGs one per convolution (+ vgg7's FC1024);
// ResNets the stem plus 2 per basic block or 3 per bottleneck; MobileNet-v2 the stem, 1 in the
// first block (no expansion), 2 in each of the other 16 blocks, and the last 1x1 convolution.
const std::map<std::string, int> kActivationCounts = {
    {"lenet5", 4},    {"vgg7", 7},      {"vgg11", 8},     {"vgg16", 13},    {"resnet18", 17},
    {"resnet34", 33}, {"resnet50", 49}, {"resnet20", 19}, {"resnet56", 55}, {"mobilenetv2", 35},
};

TEST_CASE("with the default activation the models keep their float ReLUs", "[models]") {
  for (const std::string name : {"lenet5", "resnet20", "mobilenetv2"}) {
    Rng rng(0);
    std::map<std::string, int> types =
        count_types(*make_model(name, testing::zoo_options(name), rng));
    INFO(name);
    CHECK(types[name == "mobilenetv2" ? "ReLU6" : "ReLU"] == kActivationCounts.at(name));
    CHECK(types["Pow2Activation"] == 0);
  }
}

TEST_CASE("with the power-of-two activation every ReLU of every model is quantized", "[models]") {
  for (const std::string& name : model_names()) {
    DYNAMIC_SECTION(name) {
      ModelOptions o = testing::zoo_options(name);
      o.activation.kind = ActivationSpec::Kind::kPow2;
      o.activation.bits = 4;
      o.activation.q2 = 0.25f;
      Rng rng(0);
      auto model = make_model(name, o, rng);
      std::map<std::string, int> types = count_types(*model);
      const int float_activations = kActivationCounts.at(name);
      CHECK(types["ReLU"] == 0);
      CHECK(types["ReLU6"] == 0);
      CHECK(types["Pow2Activation"] == float_activations);

      // Every activation called in a forward pass is a Pow2Activation whose outputs are on the
      // signed levels 0, ±0.25, ±0.5, ±1; some of them are negative (signed variant).
      const Pow2ActivationSpec levels{4, 0.25f, true};
      int calls = 0, off_level = 0, float_calls = 0;
      bool negative = false;
      ObserveForward observe([&](const Module& m, const Tensor&, const Tensor& out) {
        if (m.type_name() == "ReLU" || m.type_name() == "ReLU6") ++float_calls;
        if (m.type_name() != "Pow2Activation") return;
        ++calls;
        for (float v : out.to_vector()) {
          off_level += pow2_activation_value(v, levels) != v;
          negative = negative || v < 0;
        }
      });
      NoGradGuard no_grad;
      model->eval();
      Tensor x = Tensor::zeros({2, o.in_channels, o.image_size, o.image_size});
      Rng data(1);
      for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = data.normal();
      Tensor y = (*model)(x);
      CHECK(y.shape() == Shape({2, 10}));
      CHECK(calls == float_activations);
      CHECK(float_calls == 0);
      CHECK(off_level == 0);
      CHECK(negative);
    }
  }
}

TEST_CASE("the relu-pow2 activation is unsigned and the summary lists it", "[models]") {
  ModelOptions o;
  o.activation.kind = ActivationSpec::Kind::kReluPow2;
  Rng rng(0);
  auto model = make_model("resnet20", o, rng);
  bool negative = false;
  int calls = 0;
  {
    ObserveForward observe([&](const Module& m, const Tensor&, const Tensor& out) {
      if (m.type_name() != "Pow2Activation") return;
      ++calls;
      for (float v : out.to_vector()) negative = negative || v < 0;
    });
    NoGradGuard no_grad;
    Tensor x = Tensor::zeros({2, 3, 32, 32});
    Rng data(1);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = data.normal();
    CHECK((*model)(x).shape() == Shape({2, 10}));
  }
  CHECK(calls == 19);  // the stem and two per block, 9 blocks
  CHECK_FALSE(negative);
  const ModelSummary s = summarize(*model, 3, 32);
  CHECK(s.parameters == 269722);
  int listed = 0;
  for (const LayerSummary& layer : s.layers) listed += layer.type == "Pow2Activation";
  CHECK(listed == 19);
  CHECK(format_summary(s).find("Pow2Activation") != std::string::npos);
}
