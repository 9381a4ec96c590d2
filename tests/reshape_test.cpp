// reshape, flatten and the Reshape module (ONNX's reading: 0 keeps a dimension, -1 is inferred).
#include "layers/reshape.h"

#include <catch2/catch.hpp>

#include "core/check.h"

using namespace lowbit;

TEST_CASE("Reshape keeps the dimensions given as 0 and infers -1", "[reshape]") {
  const Tensor x = Tensor::from_vector({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Reshape keep_batch({0, -1});
  const Tensor y = keep_batch(x);
  CHECK(y.shape() == Shape({2, 6}));
  CHECK(y.to_vector() == x.to_vector());
  CHECK(Reshape({0, 0, 1, 2})(x).shape() == Shape({2, 3, 1, 2}));
  CHECK(Reshape({-1, 4})(x).shape() == Shape({3, 4}));
  CHECK(flatten(x).shape() == Shape({2, 6}));
}

TEST_CASE("Reshape refuses a 0 past the input's rank and sizes that do not fit", "[reshape]") {
  const Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(Reshape({0, 0, 0})(x), Catch::Contains("a 0 (keep) at dimension 2"));
  CHECK_THROWS_AS(Reshape({4, -1})(x), Error);
}
