// linear and matmul: values against hand-computed products, initialization bounds, errors.
#include "layers/linear.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/check.h"
#include "core/parallel.h"

using namespace lowbit;

TEST_CASE("matmul multiplies row-major matrices", "[linear]") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector({3, 2}, {7, 8, 9, 10, 11, 12});
  CHECK(matmul(a, b).to_vector() == std::vector<float>{58, 64, 139, 154});
  CHECK_THROWS_WITH(matmul(a, a), Catch::Contains("(2, 3)"));
}

TEST_CASE("linear computes x W^T + b", "[linear]") {
  Tensor x = Tensor::from_vector({1, 2}, {1, -1});
  Tensor w = Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector({3}, {0.5f, 0, -0.5f});
  CHECK(linear(x, w, b).to_vector() == std::vector<float>{-0.5f, -1, -1.5f});
  CHECK(linear(x, w).to_vector() == std::vector<float>{-1, -1, -1});
  CHECK_THROWS_WITH(linear(x, Tensor::zeros({3, 5})), Catch::Contains("(3, 5)"));
  CHECK_THROWS_AS(linear(x, w, Tensor::zeros({2})), Error);
}

TEST_CASE("large products agree for 1 and 2 threads", "[linear]") {
  const int saved = num_threads();
  Rng rng(2);
  Tensor x = Tensor::empty({200, 70});
  Tensor w = Tensor::empty({90, 70});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = rng.normal();
  set_num_threads(1);
  const auto one = linear(x, w).to_vector();
  set_num_threads(2);
  const auto two = linear(x, w).to_vector();
  set_num_threads(saved);
  REQUIRE(one.size() == two.size());
  for (size_t i = 0; i < one.size(); ++i) REQUIRE(one[i] == Approx(two[i]).margin(1e-4));
}

TEST_CASE("Linear initializes within PyTorch's bound", "[linear]") {
  Rng rng(3);
  Linear layer(16, 8, true, rng);
  for (float v : layer.weight().to_vector()) CHECK(std::fabs(v) <= 0.25f);
  CHECK(layer.bias().shape() == Shape({8}));
  CHECK_THROWS_AS(Linear(0, 3), Error);
}
