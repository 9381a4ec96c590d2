// concatenate: exact values along every axis, the backward's slices, and the shape errors.
#include "layers/concatenate.h"

#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/elementwise.h"
#include "layers/reduce.h"

using namespace lowbit;

TEST_CASE("concatenate joins along the channel axis in order", "[concatenate]") {
  const Tensor a = Tensor::from_vector({2, 1, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::from_vector({2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12});
  const Tensor y = concatenate({a, b}, 1);
  CHECK(y.shape() == Shape({2, 3, 2}));
  CHECK(y.to_vector() == std::vector<float>{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12});
}

TEST_CASE("concatenate along the first and the last axis, negative axes counted from the end",
          "[concatenate]") {
  const Tensor a = Tensor::from_vector({1, 2}, {1, 2});
  const Tensor b = Tensor::from_vector({1, 2}, {3, 4});
  CHECK(concatenate({a, b}, 0).to_vector() == std::vector<float>{1, 2, 3, 4});
  CHECK(concatenate({a, b}, 0).shape() == Shape({2, 2}));
  CHECK(concatenate({a, b}, -1).to_vector() == std::vector<float>{1, 2, 3, 4});
  CHECK(concatenate({a, b}, -1).shape() == Shape({1, 4}));
}

TEST_CASE("concatenate's backward gives each input its slice, and adds for a repeated input",
          "[concatenate]") {
  const Tensor a = Tensor::from_vector({1, 2}, {1, 2}).set_requires_grad(true);
  const Tensor b = Tensor::from_vector({1, 1}, {3}).set_requires_grad(true);
  // y = [a, b, a]; loss = sum(y * w) with w = (1, 2, 3, 4, 5): da = (1, 2) + (4, 5), db = 3.
  const Tensor w = Tensor::from_vector({1, 5}, {1, 2, 3, 4, 5});
  Tensor y = concatenate({a, b, a}, 1);
  backward(sum(mul(y, w)));
  CHECK(a.grad_tensor().to_vector() == std::vector<float>{5, 7});
  CHECK(b.grad_tensor().to_vector() == std::vector<float>{3});
}

TEST_CASE("concatenate refuses shapes that differ outside the axis, a bad axis and no inputs",
          "[concatenate]") {
  const Tensor a = Tensor::zeros({2, 3});
  const Tensor b = Tensor::zeros({3, 3});
  CHECK_THROWS_WITH(concatenate({a, b}, 1), Catch::Contains("differ outside axis 1"));
  CHECK_NOTHROW(concatenate({a, b}, 0));
  CHECK_THROWS_WITH(concatenate({a, a}, 2), Catch::Contains("axis 2 is out of range"));
  CHECK_THROWS_WITH(concatenate({}, 0), Catch::Contains("no inputs"));
  CHECK_THROWS_WITH(concatenate({a, Tensor::zeros({2, 3, 1})}, 1),
                    Catch::Contains("differ outside axis"));
}
