// Losses: cross-entropy against hand values (also with huge logits and smoothing), distillation KL,
// mse, rmse, and rmse over the shards of a batch (data parallelism).
#include "layers/losses.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/elementwise.h"

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

TEST_CASE("cross-entropy stays finite for huge logits and its gradient is softmax - onehot",
          "[losses]") {
  Tensor z = Tensor::from_vector({1, 2}, {1000, 0});
  z.set_requires_grad(true);
  Tensor loss = cross_entropy(z, {1});
  CHECK(loss.item() == Approx(1000.0f));
  backward(loss);
  CHECK(z.grad_tensor().to_vector() == std::vector<float>{1.0f, -1.0f});
}

TEST_CASE("distillation KL is T^2 KL(p_teacher || p_student) of the softened logits", "[losses]") {
  // One row, T = 2: softened logits (0, 1) and (1, 0).
  Tensor s = Tensor::from_vector({1, 2}, {0, 2});
  Tensor t = Tensor::from_vector({1, 2}, {2, 0});
  const double a = std::exp(1.0) / (1 + std::exp(1.0)),
               b = 1 - a;  // teacher p = (a, b), student q = (b, a)
  const double kl = a * std::log(a / b) + b * std::log(b / a);
  CHECK(distillation_kl(s, t, 2.0f).item() == Approx(4.0 * kl));
  CHECK(distillation_kl(t, t, 3.0f).item() ==
        Approx(0.0).margin(1e-7));  // equal logits: no divergence
  // A teacher shifted by a constant is the same distribution.
  CHECK(distillation_kl(Tensor::from_vector({1, 3}, {1, 2, 3}),
                        Tensor::from_vector({1, 3}, {11, 12, 13}), 1.0f)
            .item() == Approx(0.0).margin(1e-6));
  // Gradient on the student: T (q - p) / N; huge logits stay finite.
  s.set_requires_grad(true);
  backward(distillation_kl(s, t, 2.0f));
  CHECK(s.grad_tensor().to_vector()[0] == Approx(2.0 * (b - a)));
  Tensor huge = Tensor::from_vector({1, 2}, {1e4f, 0});
  CHECK(std::isfinite(distillation_kl(huge, Tensor::from_vector({1, 2}, {0, 1e4f}), 1.0f).item()));
  CHECK_THROWS_WITH(distillation_kl(s, Tensor::zeros({2, 2}), 1.0f), Catch::Contains("(2, 2)"));
  CHECK_THROWS_WITH(distillation_kl(s, t, 0.0f), Catch::Contains("temperature 0"));
}

TEST_CASE("mse and rmse", "[losses]") {
  Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector({2, 2}, {1, 0, 3, 0});
  CHECK(mse_loss(a, b).item() == Approx(5.0f));              // (0 + 4 + 0 + 16) / 4
  CHECK(rmse_loss(a, b).item() == Approx(std::sqrt(5.0f)));  // eq. 25
  Tensor c = a.clone();
  c.set_requires_grad(true);
  backward(rmse_loss(c, a));  // rmse 0: gradient defined as 0
  CHECK(c.grad_tensor().to_vector() == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("rmse over the shards of a batch: the whole batch's value and gradient", "[losses]") {
  // A batch of 3 rows of 2 logits, split into shards of 1 and 2 rows (ranks 0 and 1).
  const std::vector<float> pred = {1, 2, 3, 4, 5, 6}, target = {0, 2, 5, 4, 1, 7};
  Tensor whole = Tensor::from_vector({3, 2}, pred);
  whole.set_requires_grad(true);
  const Tensor whole_target = Tensor::from_vector({3, 2}, target);
  const Tensor loss = rmse_loss(whole, whole_target);
  backward(loss);
  Tensor shards[2] = {Tensor::from_vector({1, 2}, {pred.begin(), pred.begin() + 2}),
                      Tensor::from_vector({2, 2}, {pred.begin() + 2, pred.end()})};
  const Tensor targets[2] = {Tensor::from_vector({1, 2}, {target.begin(), target.begin() + 2}),
                             Tensor::from_vector({2, 2}, {target.begin() + 2, target.end()})};
  // What the ranks sum: 1 + 0 + 4 + 0 + 16 + 1 = 22 over 6 values.
  const double sum =
      sum_square_difference(shards[0], targets[0]) + sum_square_difference(shards[1], targets[1]);
  CHECK(sum == 22.0);
  const auto batch_rmse = static_cast<float>(std::sqrt(sum / 6.0));
  std::vector<float> gradient;
  for (int r = 0; r < 2; ++r) {
    shards[r].set_requires_grad(true);
    const Tensor shard_loss = shard_rmse_loss(shards[r], targets[r], batch_rmse);
    CHECK(shard_loss.item() == loss.item());
    backward(mul_scalar(shard_loss, (r + 1) / 3.0f));  // weighted by the shard's share
    const std::vector<float> g = shards[r].grad_tensor().to_vector();
    gradient.insert(gradient.end(), g.begin(), g.end());
  }
  const std::vector<float> expected = whole.grad_tensor().to_vector();
  REQUIRE(gradient.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(gradient[i] == Approx(expected[i]));
  CHECK(expected[4] == Approx(4.0 / (6.0 * std::sqrt(22.0 / 6.0))));  // (5 - 1) / (M rmse)
}

TEST_CASE("loss errors name the bad label or shape", "[losses]") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(cross_entropy(z, {0, 3}),
                    Catch::Contains("label 3") && Catch::Contains("index 1"));
  CHECK_THROWS_WITH(cross_entropy(z, {0}), Catch::Contains("1 labels"));
  CHECK_THROWS_WITH(mse_loss(z, Tensor::zeros({3, 2})), Catch::Contains("(3, 2)"));
}
