// Elementwise ops, reductions and reshape: exact values and errors.
#include "layers/elementwise.h"

#include <catch2/catch.hpp>

#include "core/check.h"
#include "layers/reduce.h"
#include "layers/reshape.h"

using namespace lowbit;

TEST_CASE("elementwise arithmetic", "[elementwise]") {
  Tensor a = Tensor::from_vector({3}, {1, 2, 3});
  Tensor b = Tensor::from_vector({3}, {4, 5, 6});
  CHECK((a + b).to_vector() == std::vector<float>{5, 7, 9});
  CHECK((a - b).to_vector() == std::vector<float>{-3, -3, -3});
  CHECK((a * b).to_vector() == std::vector<float>{4, 10, 18});
  CHECK((a + 1.0f).to_vector() == std::vector<float>{2, 3, 4});
  CHECK((2.0f * a).to_vector() == std::vector<float>{2, 4, 6});
}

TEST_CASE("reductions", "[elementwise]") {
  Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(sum(x).item() == 21);
  CHECK(mean(x).item() == 3.5f);
  CHECK(sum(x, 0).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(mean(x, 1).to_vector() == std::vector<float>{2, 5});
  CHECK_THROWS_WITH(sum(x, 2), Catch::Contains("axis 2"));
}

TEST_CASE("reshape shares storage and infers one dimension", "[elementwise]") {
  Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = reshape(x, {3, -1});
  CHECK(y.shape() == Shape({3, 2}));
  x.data()[0] = 10;
  CHECK(y.data()[0] == 10);
  CHECK(flatten(Tensor::zeros({4, 2, 3, 3})).shape() == Shape({4, 18}));
  CHECK_THROWS_WITH(reshape(x, {4, -1}), Catch::Contains("infer"));
  CHECK_THROWS_AS(reshape(x, {5}), Error);
}
