// Pooling: exact values with padding and strides, tie routing, errors.
#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/pooling.h"
#include "layers/reduce.h"

using namespace lowbit;

TEST_CASE("max_pool2d values, padding and first-maximum routing", "[pooling]") {
  Tensor x = Tensor::from_vector({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  CHECK(max_pool2d(x, 2).to_vector() == std::vector<float>{6, 8, 14, 16});
  CHECK(max_pool2d(x, 3, 2, 1).to_vector() == std::vector<float>{6, 8, 14, 16});
  CHECK(max_pool2d(x, 3, 1).to_vector() == std::vector<float>{11, 12, 15, 16});
  Tensor ties = Tensor::from_vector({1, 1, 2, 2}, {5, 5, 5, 5});
  ties.set_requires_grad(true);
  backward(sum(max_pool2d(ties, 2)));
  CHECK(ties.grad_tensor().to_vector() == std::vector<float>{1, 0, 0, 0});
}

TEST_CASE("avg_pool2d counts padding as zeros", "[pooling]") {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4});
  CHECK(avg_pool2d(x, 2).to_vector() == std::vector<float>{2.5f});
  const auto padded = avg_pool2d(x, 2, 1, 1).to_vector();  // 3x3 output over a zero border
  REQUIRE(padded.size() == 9);
  CHECK(padded[0] == Approx(0.25f));
  CHECK(padded[4] == Approx(2.5f));
  CHECK(global_avg_pool(Tensor::from_vector({1, 2, 1, 2}, {1, 3, 5, 9})).to_vector() == std::vector<float>{2, 7});
}

TEST_CASE("pooling errors", "[pooling]") {
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({2, 2}), 2), Catch::Contains("(2, 2)"));
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({1, 1, 2, 2}), 3), Catch::Contains("larger"));
  CHECK_THROWS_WITH(avg_pool2d(Tensor::zeros({1, 1, 4, 4}), 2, 1, 2), Catch::Contains("padding 2"));
  CHECK_THROWS_AS(global_avg_pool(Tensor::zeros({1, 2})), Error);
}
