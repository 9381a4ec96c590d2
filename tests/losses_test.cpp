// Losses: cross-entropy against hand values (also with huge logits and smoothing), mse, rmse.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/losses.h"

using namespace lowbit;

TEST_CASE("cross-entropy equals -log softmax of the label, averaged", "[losses]") {
  Tensor z = Tensor::from_vector({2, 3}, {1, 2, 3, 0, 0, 0});
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double expected = ((lse0 - 3.0) + std::log(3.0)) / 2.0;
  CHECK(cross_entropy(z, {2, 1}).item() == Approx(expected));
  // smoothing 0.3 over 3 classes: targets 0.8 / 0.1 / 0.1
  const double smooth0 = 0.1 * (lse0 - 1) + 0.1 * (lse0 - 2) + 0.8 * (lse0 - 3);
  CHECK(cross_entropy(z, {2, 1}, 0.3f).item() == Approx((smooth0 + std::log(3.0)) / 2.0));
}

TEST_CASE("cross-entropy stays finite for huge logits and its gradient is softmax - onehot", "[losses]") {
  Tensor z = Tensor::from_vector({1, 2}, {1000, 0});
  z.set_requires_grad(true);
  Tensor loss = cross_entropy(z, {1});
  CHECK(loss.item() == Approx(1000.0f));
  backward(loss);
  CHECK(z.grad_tensor().to_vector() == std::vector<float>{1.0f, -1.0f});
}

TEST_CASE("mse and rmse", "[losses]") {
  Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector({2, 2}, {1, 0, 3, 0});
  CHECK(mse_loss(a, b).item() == Approx(5.0f));             // (0 + 4 + 0 + 16) / 4
  CHECK(rmse_loss(a, b).item() == Approx(std::sqrt(5.0f)));  // eq. 25
  Tensor c = a.clone();
  c.set_requires_grad(true);
  backward(rmse_loss(c, a));  // rmse 0: gradient defined as 0
  CHECK(c.grad_tensor().to_vector() == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("loss errors name the bad label or shape", "[losses]") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(cross_entropy(z, {0, 3}), Catch::Contains("label 3") && Catch::Contains("index 1"));
  CHECK_THROWS_WITH(cross_entropy(z, {0}), Catch::Contains("1 labels"));
  CHECK_THROWS_WITH(mse_loss(z, Tensor::zeros({3, 2})), Catch::Contains("(3, 2)"));
}
