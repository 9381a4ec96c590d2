// Rounding-tie clearance (models/transforms/rounding_ties.h): the count of values near a boundary
// is exact; a repeated value on a boundary moves its layer's alpha by one 2^-12, and a tie that
// appears only after an upstream move is found by tracing again; single values and tie-free inputs
// move nothing; and on a model whose simulated and integer-only outputs differ at a tie, they agree
// afterwards.
#include "models/transforms/rounding_ties.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/rng.h"
#include "layers/linear.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/sequential.h"
#include "models/transforms/integer_model.h"

using namespace lowbit;

namespace {

constexpr float kUnit = 1.0f / 4096.0f;  // 2^-12

// A 4-bit unsigned per-tensor input quantizer with T_max = 15 step (alpha 1).
std::shared_ptr<UniformQuantizer> input_quantizer(float step) {
  auto q = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(4, false));
  q->set_threshold({15.0f * step});
  return q;
}

// x -> l1 -> l2, both Linear(1, 1) with weight 1 (8-bit weight codes of step 1) and these biases;
// l1's inputs have step 0.5, l2's step 1. With x = 0.75 (1.5 steps of l1, on a boundary) l1 gives
// code 2 and the output 2 step + b1: 1 + b1 at alpha 1, and exactly 2.5 once l1's alpha is
// 1 - 2^-12 (step 0.5 - 2^-13) if b1 = 1.5 + 2^-12 -- on a boundary of l2 only after l1 has moved.
struct Chain {
  std::shared_ptr<Linear> l1, l2;
  std::shared_ptr<UniformQuantizer> q1, q2;
  std::shared_ptr<Sequential> model;
};

Chain make_chain(float b1) {
  Chain c;
  c.l1 = std::make_shared<Linear>(1, 1);
  c.l2 = std::make_shared<Linear>(1, 1);
  for (const auto& l : {c.l1, c.l2}) {
    l->weight().data()[0] = 1.0f;
    auto w = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true));
    w->set_threshold({127.0f});
    l->set_weight_quantizer(w);
  }
  c.l1->bias().data()[0] = b1;
  c.l2->bias().data()[0] = 0.0f;
  c.q1 = input_quantizer(0.5f);
  c.q2 = input_quantizer(1.0f);
  c.l1->set_input_quantizer(c.q1);
  c.l2->set_input_quantizer(c.q2);
  c.model = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{c.l1, c.l2});
  return c;
}

}  // namespace

TEST_CASE("rounding ties: values within the margin of a boundary between two codes are counted",
          "[rounding_ties]") {
  // step 0.5, codes 0..15: u = x / 0.5.
  const std::vector<float> x{0.75f,       // u = 1.5: on the boundary of codes 1 and 2
                             0.7500005f,  // u = 1.500001: inside a margin of 2e-6
                             0.750005f,   // u = 1.50001: outside it
                             1.0f,        // u = 2: a code, not a boundary
                             7.75f,       // u = 15.5: above the top code, clipped either way
                             -0.25f,      // u = -0.5: below code 0, clipped either way
                             0.25f};      // u = 0.5: between codes 0 and 1
  CHECK(count_near_boundaries(x.data(), static_cast<int64_t>(x.size()), 0.5, 0, 15, 2e-6) == 3);
  CHECK(count_near_boundaries(x.data(), static_cast<int64_t>(x.size()), 0.5, 0, 15, 1e-4) == 4);
  CHECK(count_near_boundaries(x.data(), static_cast<int64_t>(x.size()), 0.5, -15, 15, 2e-6) == 4);
  CHECK(count_near_boundaries(x.data(), static_cast<int64_t>(x.size()), 0.5, 0, 16, 2e-6) == 4);
}

TEST_CASE(
    "rounding ties: a repeated tie moves its alpha one unit and a tie made by that move is found "
    "next",
    "[rounding_ties]") {
  Chain c = make_chain(1.5f + kUnit);
  const std::vector<Tensor> batches{Tensor::full({8, 1}, 0.75f)};
  {  // before: l1 sees 8 values on a boundary, l2 none (its input is 2.5 + 2^-12)
    NoGradGuard no_grad;
    c.model->eval();
    CHECK((*c.model)(batches[0]).data()[0] == 3.0f);  // code round(2.500244) = 3
  }
  c.model->train();
  const std::vector<TieCheck> checks = clear_rounding_ties(*c.model, batches);
  REQUIRE(checks.size() == 2);
  CHECK(checks[0].layer == "0");
  CHECK(checks[0].units == -1);  // alpha 1 is the top of its clip range: only downward
  CHECK(checks[0].ties_before == 8);
  CHECK(checks[0].ties_after == 0);
  CHECK(checks[0].values == 8);
  CHECK(checks[1].layer == "1");
  CHECK(checks[1].units == -1);
  CHECK(checks[1].ties_before == 8);  // 2.5 exactly, after l1 moved
  CHECK(checks[1].ties_after == 0);
  CHECK(c.q1->alpha().data()[0] == 1.0f - kUnit);
  CHECK(c.q2->alpha().data()[0] == 1.0f - kUnit);
  CHECK(c.model->is_training());  // the mode is restored
}

TEST_CASE("rounding ties: single values and inputs off the boundaries move nothing",
          "[rounding_ties]") {
  Chain c = make_chain(0.3f);
  Rng rng(11);
  Tensor x = Tensor::empty({64, 1});
  for (int64_t i = 0; i < 64; ++i) x.data()[i] = rng.uniform(0.0f, 7.0f);
  for (int64_t i = 0; i < 3; ++i) x.data()[i] = 0.75f;  // 3 < min_ties values on a boundary
  const std::vector<TieCheck> checks = clear_rounding_ties(*c.model, {x});
  REQUIRE(checks.size() == 2);
  CHECK(checks[0].ties_before == 3);
  for (const TieCheck& check : checks) CHECK(check.units == 0);
  CHECK(c.q1->alpha().data()[0] == 1.0f);
  CHECK(c.q2->alpha().data()[0] == 1.0f);
  TieClearanceOptions strict;
  strict.min_ties = 3;
  CHECK(clear_rounding_ties(*c.model, {x}, strict).front().units == -1);
  CHECK_THROWS_WITH(clear_rounding_ties(*c.model, {}), Catch::Contains("no batches"));
  strict.margin = 0.5;
  CHECK_THROWS_WITH(clear_rounding_ties(*c.model, {x}, strict), Catch::Contains("margin 0.5"));
}

TEST_CASE("rounding ties: the simulated and the integer-only model agree once the tie is cleared",
          "[rounding_ties]") {
  // l2's input is exactly 2.5 steps: float rounds the tie to even (2), the fixed-point
  // requantization rounds it up (3), so the two models' outputs differ by a whole step until l2's
  // alpha moves.
  Chain c = make_chain(1.5f);
  const Tensor x = Tensor::full({8, 1}, 1.0f);  // 2 steps of l1: code 2, l1's output 1 + 1.5
  auto outputs = [&] {
    NoGradGuard no_grad;
    c.model->eval();
    IntegerModel integer(*c.model);
    return std::make_pair((*c.model)(x).data()[0], integer(x).data()[0]);
  };
  const auto before = outputs();
  CHECK(before.first == 2.0f);
  CHECK(before.second == 3.0f);
  const std::vector<TieCheck> checks = clear_rounding_ties(*c.model, {x});
  REQUIRE(checks.size() == 2);
  CHECK(checks[0].units == 0);
  CHECK(checks[1].units == -1);
  const auto after = outputs();
  CHECK(after.first == Approx(after.second).margin(1e-5));
}
