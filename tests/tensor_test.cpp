// Tensor: construction, copies versus shared storage, gradients, errors.
#include "core/tensor.h"

#include <catch2/catch.hpp>

#include "core/check.h"

using namespace lowbit;

TEST_CASE("tensor factories fill values", "[tensor]") {
  CHECK(Tensor::zeros({2, 2}).to_vector() == std::vector<float>{0, 0, 0, 0});
  CHECK(Tensor::full({3}, 1.5f).to_vector() == std::vector<float>{1.5f, 1.5f, 1.5f});
  CHECK(Tensor::scalar(2.0f).item() == 2.0f);
  CHECK_THROWS_WITH(Tensor::from_vector({2, 2}, {1, 2, 3}), Catch::Contains("(2, 2)"));
}

TEST_CASE("detach shares storage, clone copies it", "[tensor]") {
  Tensor a = Tensor::from_vector({2}, {1, 2});
  Tensor d = a.detach();
  Tensor c = a.clone();
  a.data()[0] = 9;
  CHECK(d.data()[0] == 9);
  CHECK(c.data()[0] == 1);
}

TEST_CASE("gradients are allocated lazily and zeroed on request", "[tensor]") {
  Tensor a = Tensor::zeros({3});
  a.set_requires_grad(true);
  CHECK_FALSE(a.has_grad());
  a.grad()[1] = 4;
  CHECK(a.has_grad());
  CHECK(a.grad_tensor().to_vector() == std::vector<float>{0, 4, 0});
  a.zero_grad();
  CHECK(a.grad_tensor().to_vector() == std::vector<float>{0, 0, 0});
  a.drop_grad();
  CHECK_FALSE(a.has_grad());
}

TEST_CASE("undefined tensors and item on many elements are errors", "[tensor]") {
  Tensor undefined;
  CHECK_FALSE(undefined.defined());
  CHECK_THROWS_AS(undefined.shape(), Error);
  CHECK_THROWS_WITH(Tensor::zeros({2}).item(), Catch::Contains("one-element"));
}
