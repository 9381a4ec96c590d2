// Adam against hand-computed steps (bias correction, L2 and decoupled decay), state, reset.
#include "optim/adam.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/check.h"

using namespace lowbit;

namespace {

Parameter param(float value) {
  Tensor t = Tensor::from_vector({1}, {value});
  t.set_requires_grad(true);
  return Parameter{"w", ParamRole::kWeight, t};
}

}  // namespace

TEST_CASE("Adam's first two steps", "[optim]") {
  Parameter p = param(1.0f);
  Adam adam({p}, AdamOptions{0.1f});
  p.tensor.grad()[0] = 2.0f;
  adam.step();  // m = 0.2, v = 0.004; mhat = 2, vhat = 4; w = 1 - 0.1 * 2 / (2 + 1e-8) = 0.9
  CHECK(p.tensor.item() == Approx(0.9f));
  p.tensor.grad()[0] = 1.0f;
  adam.step();
  // m = 0.9*0.2 + 0.1*1 = 0.28, v = 0.999*0.004 + 0.001*1 = 0.004996
  // mhat = 0.28 / 0.19 = 1.473684, vhat = 0.004996 / 0.001999 = 2.499250
  const double expected =
      0.9 - 0.1 * (0.28 / 0.19) / (std::sqrt(0.004996 / (1 - 0.999 * 0.999)) + 1e-8);
  CHECK(p.tensor.item() == Approx(expected).epsilon(1e-5));
}

TEST_CASE("L2 and decoupled weight decay", "[optim]") {
  Parameter p = param(2.0f), q = param(2.0f);
  AdamOptions l2{0.1f};
  l2.weight_decay = 0.5f;
  AdamOptions decoupled = l2;
  decoupled.decoupled_weight_decay = true;
  Adam a({p}, l2), b({q}, decoupled);
  p.tensor.grad()[0] = 1.0f;
  q.tensor.grad()[0] = 1.0f;
  a.step();  // g = 1 + 0.5*2 = 2; the first step moves by lr * sign: 2 - 0.1 = 1.9
  CHECK(p.tensor.item() == Approx(1.9f));
  b.step();  // w = 2 * (1 - 0.05) = 1.9, then - 0.1 -> 1.8
  CHECK(q.tensor.item() == Approx(1.8f));
}

TEST_CASE("Adam state round-trips and reset makes the next step a first step", "[optim]") {
  Parameter p = param(1.0f), q = param(1.0f);
  Adam a({p}, AdamOptions{0.1f}), b({q}, AdamOptions{0.1f});
  p.tensor.grad()[0] = 3.0f;
  q.tensor.grad()[0] = 3.0f;
  a.step();
  b.load_state(a.state());
  q.tensor.copy_from(p.tensor);
  p.tensor.grad()[0] = -1.0f;
  q.tensor.grad()[0] = -1.0f;
  a.step();
  b.step();
  CHECK(p.tensor.item() == q.tensor.item());
  a.reset_state();
  const float before = p.tensor.item();
  a.step();  // first step again: moves by exactly lr against the gradient's sign
  CHECK(p.tensor.item() == Approx(before + 0.1f));
  CHECK_THROWS_WITH(b.load_state({}), Catch::Contains("exp_avg.w"));
}

TEST_CASE("Adam option errors", "[optim]") {
  Parameter p = param(1.0f);
  AdamOptions o;
  o.beta1 = 1.0f;
  CHECK_THROWS_WITH(Adam({p}, o), Catch::Contains("beta1 1"));
  o = AdamOptions{};
  o.eps = 0;
  CHECK_THROWS_WITH(Adam({p}, o), Catch::Contains("eps"));
}
