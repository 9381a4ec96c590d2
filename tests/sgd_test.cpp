// Sgd against hand-computed steps, state round trip, reset, option errors.
#include "optim/sgd.h"

#include <catch2/catch.hpp>

#include "core/check.h"

using namespace lowbit;

namespace {

Parameter param(std::vector<float> values) {
  Tensor t = Tensor::from_vector({static_cast<int64_t>(values.size())}, values);
  t.set_requires_grad(true);
  return Parameter{"w", ParamRole::kWeight, t};
}

void set_grad(const Parameter& p, std::vector<float> g) {
  for (size_t i = 0; i < g.size(); ++i) p.tensor.grad()[i] = g[i];
}

}  // namespace

TEST_CASE("plain SGD with weight decay", "[optim]") {
  Parameter p = param({1.0f});
  SgdOptions o;
  o.lr = 0.1f;
  o.weight_decay = 0.5f;
  Sgd sgd({p}, o);
  set_grad(p, {2.0f});
  sgd.step();  // g = 2 + 0.5 * 1 = 2.5; w = 1 - 0.25 = 0.75
  CHECK(p.tensor.item() == Approx(0.75f));
}

TEST_CASE("momentum and Nesterov follow torch.optim.SGD", "[optim]") {
  SgdOptions o;
  o.lr = 0.1f;
  o.momentum = 0.9f;
  Parameter p = param({1.0f});
  Sgd sgd({p}, o);
  set_grad(p, {1.0f});
  sgd.step();  // b = 1; w = 1 - 0.1 = 0.9
  CHECK(p.tensor.item() == Approx(0.9f));
  sgd.step();  // b = 0.9 + 1 = 1.9; w = 0.9 - 0.19 = 0.71
  CHECK(p.tensor.item() == Approx(0.71f));

  o.nesterov = true;
  Parameter q = param({1.0f});
  Sgd nesterov({q}, o);
  set_grad(q, {1.0f});
  nesterov.step();  // b = 1; update = 1 + 0.9 = 1.9; w = 0.81
  CHECK(q.tensor.item() == Approx(0.81f));
  nesterov.step();  // b = 1.9; update = 1 + 1.71 = 2.71; w = 0.81 - 0.271 = 0.539
  CHECK(q.tensor.item() == Approx(0.539f));
}

TEST_CASE("Sgd state round-trips and reset forgets momentum", "[optim]") {
  SgdOptions o;
  o.lr = 0.1f;
  o.momentum = 0.9f;
  Parameter a = param({1.0f}), b = param({1.0f});
  Sgd first({a}, o), second({b}, o);
  set_grad(a, {1.0f});
  set_grad(b, {1.0f});
  first.step();
  second.load_state(first.state());
  b.tensor.copy_from(a.tensor);
  first.step();
  second.step();
  CHECK(a.tensor.item() == b.tensor.item());
  first.reset_state();
  const float before = a.tensor.item();
  first.step();  // a first step again: w -= 0.1 * 1
  CHECK(a.tensor.item() == Approx(before - 0.1f));
}

TEST_CASE("parameters without gradient are untouched and bad options are errors", "[optim]") {
  Parameter p = param({1.0f});
  Sgd sgd({p}, SgdOptions{});
  sgd.step();
  CHECK(p.tensor.item() == 1.0f);
  SgdOptions bad;
  bad.nesterov = true;
  CHECK_THROWS_WITH(Sgd({p}, bad), Catch::Contains("nesterov"));
  bad = SgdOptions{};
  bad.momentum = 1.5f;
  CHECK_THROWS_WITH(Sgd({p}, bad), Catch::Contains("momentum 1.5"));
  bad = SgdOptions{};
  bad.lr = -1;
  CHECK_THROWS_WITH(Sgd({p}, bad), Catch::Contains("learning rate -1"));
}
