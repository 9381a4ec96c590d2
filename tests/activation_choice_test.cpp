// Activation choice: each kind builds its module with the spec's levels; names parse both ways and
// an unknown one lists the known ones.
#include "models/activation_choice.h"

#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/quant/pow2_activation.h"

using namespace lowbit;

namespace {

std::vector<float> apply(Module& m, const std::vector<float>& x) {
  NoGradGuard no_grad;
  return m(Tensor::from_vector({static_cast<int64_t>(x.size())}, x)).to_vector();
}

}  // namespace

TEST_CASE("make_activation builds ReLU, the signed and the unsigned power-of-two activation",
          "[activation_choice]") {
  const std::vector<float> x = {-2.0f, -0.3f, -0.05f, 0.05f, 0.1f, 0.3f, 2.0f};
  ActivationSpec spec;  // relu, 3 bits, q2 = 0.125: levels 0, 0.125, 0.25
  auto relu = make_activation(spec);
  CHECK(relu->type_name() == "ReLU");
  CHECK(apply(*relu, x) == std::vector<float>{0.0f, 0.0f, 0.0f, 0.05f, 0.1f, 0.3f, 2.0f});

  spec.kind = ActivationSpec::Kind::kPow2;
  auto pow2 = make_activation(spec);
  REQUIRE(pow2->type_name() == "Pow2Activation");
  const auto& signed_spec = dynamic_cast<const Pow2Activation&>(*pow2).spec();
  CHECK(signed_spec.bits == 3);
  CHECK(signed_spec.q2 == 0.125f);
  CHECK(signed_spec.is_signed);
  CHECK(apply(*pow2, x) == std::vector<float>{-0.25f, -0.25f, 0.0f, 0.0f, 0.125f, 0.25f, 0.25f});

  spec.kind = ActivationSpec::Kind::kReluPow2;
  spec.bits = 4;  // levels 0, 0.125, 0.25, 0.5
  auto relu_pow2 = make_activation(spec);
  REQUIRE(relu_pow2->type_name() == "Pow2Activation");
  CHECK_FALSE(dynamic_cast<const Pow2Activation&>(*relu_pow2).spec().is_signed);
  CHECK(apply(*relu_pow2, x) == std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f, 0.125f, 0.25f, 0.5f});
}

TEST_CASE("the unsigned variant passes no gradient below zero, as ReLU", "[activation_choice]") {
  ActivationSpec spec;
  spec.kind = ActivationSpec::Kind::kReluPow2;
  auto m = make_activation(spec);
  Tensor x =
      Tensor::from_vector({3}, {-0.15f, 0.15f, -3.0f});  // 0.15: between the thresholds, slope 1
  x.set_requires_grad(true);
  Tensor y = (*m)(x);
  backward(y, Tensor::full({3}, 1.0f));
  CHECK(x.grad_tensor().to_vector() == std::vector<float>{0.0f, 1.0f, 0.0f});
}

TEST_CASE("activation names parse both ways and an unknown name lists the known ones",
          "[activation_choice]") {
  for (auto kind : {ActivationSpec::Kind::kRelu, ActivationSpec::Kind::kPow2,
                    ActivationSpec::Kind::kReluPow2}) {
    CHECK(parse_activation_kind(activation_kind_name(kind)) == kind);
  }
  CHECK(parse_activation_kind("relu-pow2") == ActivationSpec::Kind::kReluPow2);
  CHECK_THROWS_WITH(parse_activation_kind("tanh"),
                    Catch::Contains("tanh") && Catch::Contains("relu") && Catch::Contains("pow2") &&
                        Catch::Contains("relu-pow2"));
  CHECK_THROWS_AS(parse_activation_kind("Pow2"), Error);
}

TEST_CASE("make_activation rejects levels out of range", "[activation_choice]") {
  ActivationSpec spec;
  spec.kind = ActivationSpec::Kind::kPow2;
  spec.bits = 1;
  CHECK_THROWS_AS(make_activation(spec), Error);
  spec.bits = 3;
  spec.q2 = 0.0f;
  CHECK_THROWS_AS(make_activation(spec), Error);
}
