// batch_norm: normalized values, running statistics with momentum, eval mode and its rounding,
// errors.
#include "layers/batch_norm.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/rng.h"

using namespace lowbit;

TEST_CASE("training normalizes each channel with batch statistics", "[batch_norm]") {
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25); channel 1 holds 10 x 4... (2, 2, 1, 2)
  // layout.
  Tensor x = Tensor::from_vector({2, 2, 1, 2}, {1, 2, 10, 10, 3, 4, 10, 14});
  BatchNorm bn(2);
  bn.weight().fill(2.0f);
  bn.bias().fill(1.0f);
  const auto y = bn(x).to_vector();
  const float is0 = 1.0f / std::sqrt(1.25f + 1e-5f);
  CHECK(y[0] == Approx(1 + 2 * (1 - 2.5f) * is0));
  CHECK(y[5] == Approx(1 + 2 * (4 - 2.5f) * is0));
  // running stats after one step: 0.9 * 0 + 0.1 * mean; 0.9 * 1 + 0.1 * unbiased var
  CHECK(bn.running_mean().to_vector()[0] == Approx(0.25f));
  CHECK(bn.running_var().to_vector()[0] == Approx(0.9f + 0.1f * (5.0f / 3.0f)));
  CHECK(bn.running_mean().to_vector()[1] == Approx(0.1f * 11.0f));
  bn(x);
  CHECK(bn.running_mean().to_vector()[0] == Approx(0.9f * 0.25f + 0.25f));
}

TEST_CASE("eval uses the running statistics and (N, C) inputs work", "[batch_norm]") {
  BatchNorm bn(3);
  bn.running_mean().copy_from(Tensor::from_vector({3}, {1, 2, 3}));
  bn.running_var().copy_from(Tensor::from_vector({3}, {4, 1, 0.25f}));
  bn.eval();
  const auto y = bn(Tensor::from_vector({1, 3}, {3, 2, 4})).to_vector();
  CHECK(y[0] == Approx(2 / std::sqrt(4 + 1e-5f)));
  CHECK(y[1] == Approx(0.0f));
  CHECK(y[2] == Approx(1 / std::sqrt(0.25f + 1e-5f)));
  CHECK(bn.running_mean().to_vector() == std::vector<float>{1, 2, 3});
}

TEST_CASE("batch_norm errors", "[batch_norm]") {
  BatchNorm bn(3);
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 4})), Catch::Contains("(4,)") || Catch::Contains("(3,)"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 3, 4})), Catch::Contains("(2, 3, 4)"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({1, 3})), Catch::Contains("more than one value"));
  CHECK_THROWS_AS(BatchNorm(0), Error);
}

TEST_CASE("eval rounds x * scale and then + shift, as ONNX Runtime's BatchNormalization does",
          "[batch_norm]") {
  // scale = gamma / sqrt(var + eps) and shift = beta - mean * scale, each operation rounded to
  // float once, then y = x * scale rounded, plus shift rounded: a fused multiply-add would round
  // once and differ in the last bit for some x, moving values across a quantizer's threshold.
  BatchNorm bn(1);
  bn.weight().fill(0.7f);
  bn.bias().fill(0.3f);
  bn.running_mean().fill(0.1f);
  bn.running_var().fill(2.0f);
  bn.eval();
  const float inv_std = 1.0f / std::sqrt(2.0f + 1e-5f);
  const float scale = 0.7f * inv_std;
  const volatile float mean_times_scale = 0.1f * scale;
  const float shift = 0.3f - mean_times_scale;
  Rng rng(5);
  std::vector<float> xs(4096);
  for (float& v : xs) v = rng.uniform(-3.0f, 3.0f);
  const std::vector<float> y = bn(Tensor::from_vector({4096, 1}, xs)).to_vector();
  int64_t fused_differs = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    // volatile: the test itself is built with -march=native, which would fuse its reference.
    const volatile float product = xs[i] * scale;
    const float want = product + shift;
    CHECK(y[i] == want);
    fused_differs += std::fma(xs[i], scale, shift) != want;
  }
  CHECK(fused_differs > 0);  // what the check tells apart
}
