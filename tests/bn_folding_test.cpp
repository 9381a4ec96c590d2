// BN folding (FAT eq. 10-11): hand-computed folds of a conv and a linear layer, and whole zoo
// models (LeNet-5, ResNet-20, MobileNet-v2) with randomized BN statistics whose folded outputs, in
// eval and in train mode, equal the unfolded eval outputs, every folded BN replaced by an Identity;
// BNs that cannot be folded are left and named; folds the trace cannot see are caught.
#include "models/transforms/bn_folding.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/dropout.h"
#include "layers/elementwise.h"
#include "layers/identity.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/sequential.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using lowbit::testing::random_tensor;

namespace {

// Statistics and affine parameters far from the defaults, so that folding has work to do.
int randomize_batch_norms(Module& model, Rng& rng) {
  int count = 0;
  for_each_module(model, [&](Module& m) {
    auto* bn = dynamic_cast<BatchNorm*>(&m);
    if (!bn) return;
    ++count;
    for (int64_t c = 0; c < bn->channels(); ++c) {
      bn->weight().data()[c] = rng.uniform(0.5f, 1.5f);
      bn->bias().data()[c] = rng.uniform(-0.5f, 0.5f);
      bn->running_mean().data()[c] = rng.uniform(-0.5f, 0.5f);
      bn->running_var().data()[c] = rng.uniform(0.25f, 2.0f);
    }
  });
  return count;
}

Tensor eval(Module& model, const Tensor& x) {
  NoGradGuard no_grad;
  return model(x);
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  double d = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i)
    d = std::max(d, std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]));
  return d;
}

double max_abs(const Tensor& a) {
  double m = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(a.data()[i])));
  return m;
}

// A conv whose output is read by the BN and by a functional add the trace cannot see.
class HiddenConsumer : public Module {
 public:
  explicit HiddenConsumer(Rng& rng) {
    register_module("conv", std::make_shared<Conv2d>(2, 2, 1, Conv2dOptions{}, false, rng));
    register_module("bn", std::make_shared<BatchNorm>(2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = child("conv")(x);
    return add(child("bn")(h), h);
  }
  std::string type_name() const override { return "HiddenConsumer"; }
};

// Calls its BN through a pointer of its own, so that replacing the registered child changes
// nothing.
class OwnPointer : public Module {
 public:
  explicit OwnPointer(Rng& rng) {
    conv_ = register_module("conv", std::make_shared<Conv2d>(2, 2, 1, Conv2dOptions{}, false, rng));
    bn_ = register_module("bn", std::make_shared<BatchNorm>(2));
  }
  Tensor forward(const Tensor& x) override { return (*bn_)((*conv_)(x)); }
  std::string type_name() const override { return "OwnPointer"; }

 private:
  std::shared_ptr<Module> conv_, bn_;
};

// A conv whose output two modules read: the BN and a ReLU.
class TwoConsumers : public Module {
 public:
  explicit TwoConsumers(Rng& rng) {
    conv_ = register_module("conv", std::make_shared<Conv2d>(3, 3, 1, Conv2dOptions{}, false, rng));
    bn_ = register_module("bn", std::make_shared<BatchNorm>(3));
    relu_ = register_module("relu", std::make_shared<ReLU>());
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*conv_)(x);
    return add((*bn_)(h), (*relu_)(h));
  }
  std::string type_name() const override { return "TwoConsumers"; }

 private:
  std::shared_ptr<Module> conv_, bn_, relu_;
};

}  // namespace

TEST_CASE("bn_folding: a conv and a linear layer folded by hand (eq. 10-11)", "[bn_folding]") {
  // eps = 2^-10 and variances 4 - eps and 1 - eps make every sqrt exact: s = gamma / 2 and gamma
  // / 1.
  const float eps = 1.0f / 1024.0f;
  Rng rng(1);
  Conv2d conv(1, 2, 1, Conv2dOptions{}, false, rng);
  conv.weight().copy_from(Tensor::from_vector({2}, {2.0f, -1.0f}));
  BatchNorm bn(2, 0.1f, eps);
  bn.weight().copy_from(Tensor::from_vector({2}, {3.0f, 2.0f}));
  bn.bias().copy_from(Tensor::from_vector({2}, {1.0f, 0.0f}));
  bn.running_mean().copy_from(Tensor::from_vector({2}, {0.5f, -1.0f}));
  bn.running_var().copy_from(Tensor::from_vector({2}, {4.0f - eps, 1.0f - eps}));
  fold_batch_norm(conv, bn);
  CHECK(conv.weight().to_vector() == std::vector<float>{3.0f, -2.0f});  // s = 1.5, 2
  CHECK(conv.bias().to_vector() ==
        std::vector<float>{0.25f, 2.0f});  // 1 + 1.5 (0 - 0.5), 0 + 2 (0 + 1)
  CHECK(bn.running_mean().to_vector() ==
        std::vector<float>{0.5f, -1.0f});  // the BN itself is left as it was

  Linear fc(2, 2, true, rng);
  fc.weight().copy_from(Tensor::from_vector({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f}));
  fc.bias().copy_from(Tensor::from_vector({2}, {0.5f, -0.5f}));
  BatchNorm bn1(2, 0.1f, eps);
  bn1.weight().copy_from(Tensor::from_vector({2}, {2.0f, 1.0f}));
  bn1.bias().copy_from(Tensor::from_vector({2}, {0.0f, 1.0f}));
  bn1.running_mean().copy_from(Tensor::from_vector({2}, {1.0f, 0.0f}));
  bn1.running_var().copy_from(Tensor::from_vector({2}, {1.0f - eps, 4.0f - eps}));
  fold_batch_norm(fc, bn1);
  CHECK(fc.weight().to_vector() == std::vector<float>{2.0f, 4.0f, 1.5f, 2.0f});  // s = 2, 0.5
  CHECK(fc.bias().to_vector() == std::vector<float>{-1.0f, 0.75f});  // 2 (0.5 - 1), 1 + 0.5 (-0.5)
}

TEST_CASE(
    "bn_folding: zoo models with random BN statistics give the same outputs folded, in eval and "
    "train mode",
    "[bn_folding]") {
  struct Case {
    const char* model;
    int64_t channels, side;
    ActivationSpec::Kind activation;
  };
  // LeNet-5 has BN only before a quantized activation (models/lenet5.cpp): the unsigned
  // power-of-two one.
  for (const Case& c : {Case{"lenet5", 1, 28, ActivationSpec::Kind::kReluPow2},
                        Case{"resnet20", 3, 32, ActivationSpec::Kind::kRelu},
                        Case{"mobilenetv2", 3, 32, ActivationSpec::Kind::kRelu}}) {
    DYNAMIC_SECTION(c.model) {
      Rng rng(42);
      ModelOptions o;
      o.in_channels = c.channels;
      o.image_size = c.side;
      o.activation.kind = c.activation;
      std::shared_ptr<Module> model = make_model(c.model, o, rng);
      const int bns = randomize_batch_norms(*model, rng);
      const Tensor sample = random_tensor({2, c.channels, c.side, c.side}, rng);
      const Tensor unseen = random_tensor({3, c.channels, c.side, c.side}, rng);
      model->eval();
      const Tensor expected = eval(*model, unseen);

      const BnFoldReport report = fold_batch_norms(*model, sample);
      CHECK(report.folded == bns);
      CHECK(report.unfolded.empty());
      CHECK_FALSE(model->is_training());
      int bns_left = 0, identities = 0;
      for_each_module(*model, [&](Module& m) {
        bns_left += dynamic_cast<BatchNorm*>(&m) != nullptr;
        identities += dynamic_cast<Identity*>(&m) != nullptr;
        if (auto* conv = dynamic_cast<Conv2d*>(&m)) CHECK(conv->bias().defined());
      });
      CHECK(bns_left == 0);
      CHECK(identities == bns);
      for (const NamedTensor& b : model->buffers())
        CHECK(b.name.find("running") == std::string::npos);
      // Inputs other than the tracing sample: the relative difference is float rounding.
      const Tensor folded = eval(*model, unseen);
      const double relative = max_abs_difference(folded, expected) / max_abs(expected);
      INFO(c.model << ": max |folded - unfolded| = " << max_abs_difference(folded, expected)
                   << " of max |y| = " << max_abs(expected)
                   << " (sample: " << report.max_abs_difference << ")");
      CHECK(relative <= 1e-4);
      CHECK(report.max_abs_difference <= 1e-4 * report.max_abs_output);
      // Train mode: no batch statistics are left to undo the fold (dropout, MobileNet-v2's, stays
      // off: it is random in train mode, and has nothing to do with folding).
      model->train();
      for_each_module(*model, [](Module& m) {
        if (dynamic_cast<Dropout*>(&m)) m.eval();
      });
      const Tensor trained_mode = eval(*model, unseen);
      CHECK(max_abs_difference(trained_mode, folded) == 0.0);
    }
  }
}

TEST_CASE("bn_folding: BNs not fed by a sole conv or linear call are left and named",
          "[bn_folding]") {
  Rng rng(3);
  Sequential net;
  net.add(std::make_shared<Conv2d>(2, 3, 1, Conv2dOptions{}, false, rng))
      .add(std::make_shared<BatchNorm>(3))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<BatchNorm>(3))
      .add(std::make_shared<TwoConsumers>(rng));
  randomize_batch_norms(net, rng);
  const Tensor x = random_tensor({2, 2, 3, 3}, rng);
  const BnFoldReport report = fold_batch_norms(net, x);
  CHECK(report.folded == 1);
  CHECK(report.unfolded == std::vector<std::string>{"3", "4.bn"});
  CHECK(report.max_abs_difference <= 1e-5 * report.max_abs_output);
}

TEST_CASE("bn_folding: errors", "[bn_folding]") {
  Rng rng(4);
  Conv2d conv(2, 3, 1, Conv2dOptions{}, false, rng);
  BatchNorm four(4);
  CHECK_THROWS_WITH(fold_batch_norm(conv, four),
                    Catch::Contains("3 outputs but the BatchNorm has 4 channels"));
  auto q = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true), 1);
  conv.set_weight_quantizer(q);
  BatchNorm three(3);
  CHECK_THROWS_WITH(fold_batch_norm(conv, three),
                    Catch::Contains("before quantizers are attached"));

  // A functional consumer the trace cannot see: the comparison on the sample catches the wrong
  // fold.
  HiddenConsumer hidden(rng);
  randomize_batch_norms(hidden, rng);
  CHECK_THROWS_WITH(fold_batch_norms(hidden, random_tensor({1, 2, 2, 2}, rng)),
                    Catch::Contains("differ from the unfolded"));

  // A parent calling the BN through its own pointer: the replacement would not take effect.
  OwnPointer own(rng);
  randomize_batch_norms(own, rng);
  CHECK_THROWS_WITH(
      fold_batch_norms(own, random_tensor({1, 2, 2, 2}, rng)),
      Catch::Contains("BatchNorm 'bn' is still called") && Catch::Contains("Module::child"));
}
