// Pooling: exact values with padding and strides, tie routing, errors.
#include "layers/pooling.h"

#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/reduce.h"

using namespace lowbit;

TEST_CASE("max_pool2d values, padding and first-maximum routing", "[pooling]") {
  Tensor x =
      Tensor::from_vector({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  CHECK(max_pool2d(x, 2).to_vector() == std::vector<float>{6, 8, 14, 16});
  CHECK(max_pool2d(x, 3, 2, 1).to_vector() == std::vector<float>{6, 8, 14, 16});
  CHECK(max_pool2d(x, 3, 1).to_vector() == std::vector<float>{11, 12, 15, 16});
  Tensor ties = Tensor::from_vector({1, 1, 2, 2}, {5, 5, 5, 5});
  ties.set_requires_grad(true);
  backward(sum(max_pool2d(ties, 2)));
  CHECK(ties.grad_tensor().to_vector() == std::vector<float>{1, 0, 0, 0});
}

TEST_CASE("the vectorized 2x2 max pool routes like the general loop, ties included", "[pooling]") {
  // Values from {0, 1, 2}, so most windows hold ties; the reference is a plain scan that
  // keeps the first maximum in (ky, kx) order, as the general loop does. Widths give rows of
  // 4 outputs (scalar), 8 (one block), 14 (a block and an overlapping one), 19 and, with odd
  // sides, an unused last column and row.
  for (const int64_t w : {8, 16, 28, 29, 38}) {
    const int64_t n = 2, c = 3, h = w == 29 ? 7 : 6;
    std::vector<float> values(static_cast<size_t>(n * c * h * w));
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 7 + i / 5) % 3);
    Tensor x = Tensor::from_vector({n, c, h, w}, values);
    x.set_requires_grad(true);
    Tensor y = max_pool2d(x, 2);
    backward(sum(y));
    std::vector<float> want_y, want_dx(values.size(), 0.0f);
    for (int64_t plane = 0; plane < n * c; ++plane)
      for (int64_t oy = 0; oy < h / 2; ++oy)
        for (int64_t ox = 0; ox < w / 2; ++ox) {
          int64_t at = -1;
          for (int64_t ky = 0; ky < 2; ++ky)
            for (int64_t kx = 0; kx < 2; ++kx) {
              const int64_t i = plane * h * w + (2 * oy + ky) * w + 2 * ox + kx;
              if (at < 0 || values[static_cast<size_t>(i)] > values[static_cast<size_t>(at)])
                at = i;
            }
          want_y.push_back(values[static_cast<size_t>(at)]);
          want_dx[static_cast<size_t>(at)] += 1.0f;
        }
    INFO("width " << w);
    CHECK(y.to_vector() == want_y);
    CHECK(x.grad_tensor().to_vector() == want_dx);
  }
}

TEST_CASE("avg_pool2d counts padding as zeros", "[pooling]") {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4});
  CHECK(avg_pool2d(x, 2).to_vector() == std::vector<float>{2.5f});
  const auto padded = avg_pool2d(x, 2, 1, 1).to_vector();  // 3x3 output over a zero border
  REQUIRE(padded.size() == 9);
  CHECK(padded[0] == Approx(0.25f));
  CHECK(padded[4] == Approx(2.5f));
  CHECK(global_avg_pool(Tensor::from_vector({1, 2, 1, 2}, {1, 3, 5, 9})).to_vector() ==
        std::vector<float>{2, 7});
}

TEST_CASE("pooling errors", "[pooling]") {
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({2, 2}), 2), Catch::Contains("(2, 2)"));
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({1, 1, 2, 2}), 3), Catch::Contains("larger"));
  CHECK_THROWS_WITH(avg_pool2d(Tensor::zeros({1, 1, 4, 4}), 2, 1, 2), Catch::Contains("padding 2"));
  CHECK_THROWS_AS(global_avg_pool(Tensor::zeros({1, 2})), Error);
}
