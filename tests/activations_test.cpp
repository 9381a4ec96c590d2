// Activations: values and the slopes their backward uses.
#include "layers/activations.h"

#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/reduce.h"

using namespace lowbit;

namespace {

std::vector<float> slopes(Tensor (*f)(const Tensor&), const std::vector<float>& xs) {
  Tensor x = Tensor::from_vector({static_cast<int64_t>(xs.size())}, xs);
  x.set_requires_grad(true);
  backward(sum(f(x)));
  return x.grad_tensor().to_vector();
}

}  // namespace

TEST_CASE("relu, relu6 and hardtanh values and slopes", "[activations]") {
  const std::vector<float> xs{-2, -0.5f, 0.5f, 3, 7};
  Tensor x = Tensor::from_vector({5}, xs);
  CHECK(relu(x).to_vector() == std::vector<float>{0, 0, 0.5f, 3, 7});
  CHECK(relu6(x).to_vector() == std::vector<float>{0, 0, 0.5f, 3, 6});
  CHECK(hardtanh(x).to_vector() == std::vector<float>{-1, -0.5f, 0.5f, 1, 1});
  CHECK(slopes(relu, xs) == std::vector<float>{0, 0, 1, 1, 1});
  CHECK(slopes(relu6, xs) == std::vector<float>{0, 0, 1, 1, 0});
  CHECK(slopes([](const Tensor& t) { return hardtanh(t); }, xs) ==
        std::vector<float>{0, 1, 1, 0, 0});
  CHECK_THROWS_AS(Hardtanh(1, -1), Error);
}
