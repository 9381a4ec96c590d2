// DST: the grid, projection, exact transitions, staying on the grid, and Monte Carlo jump
// frequencies against eq. 14's probability.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "core/check.h"
#include "optim/discrete_state_transition.h"

using namespace lowbit;

TEST_CASE("the grid of min_exp -2 is {0, ±1/4, ±1/2, ±1}", "[dst]") {
  const DstSpec spec{-2, 0.5f};
  CHECK(max_grid_state(spec) == 4);
  for (int s : {0, 1, 2, 4, -1, -2, -4}) CHECK(is_grid_state(s, spec));
  for (int s : {3, -3, 5, 8}) CHECK_FALSE(is_grid_state(s, spec));
  CHECK(grid_value(-2, spec) == -0.5f);
  CHECK(project_to_grid(0.3f, spec) == 1);    // 1.2 -> 1
  CHECK(project_to_grid(0.7f, spec) == 2);    // 2.8 -> round 3 -> nearer of 2 and 4 is 2
  CHECK(project_to_grid(0.8f, spec) == 4);    // 3.2 -> 3 -> nearer is 4
  CHECK(project_to_grid(-5.0f, spec) == -4);  // clipped to -1
  CHECK(project_to_grid(0.1f, spec) == 0);
  CHECK_THROWS_AS(max_grid_state({-7, 0.5f}), Error);
}

TEST_CASE("transitions take whole steps, the gated extra step and the binomial choice", "[dst]") {
  const DstSpec spec{-2, 0.5f};  // L = 0.25
  // dw = 0.3 = 1 whole step + v = 0.05 (v/L = 0.2, p1 = tanh(0.1) ~ 0.0997)
  CHECK(dst_transition(1, 0.3f, spec, 0.5f, 0.0f) == 2);   // gate 0: 1 -> 2
  CHECK(dst_transition(1, 0.3f, spec, 0.05f, 0.0f) == 2);  // gate 1: 1 -> 3 -> coin picks 2
  CHECK(dst_transition(1, 0.3f, spec, 0.05f, 0.9f) == 4);  // gate 1: 1 -> 3 -> coin picks 4
  CHECK(dst_transition(-1, -0.3f, spec, 0.5f, 0.0f) == -2);
  CHECK(dst_transition(4, 10.0f, spec, 0.5f, 0.5f) == 4);     // clipped at 1
  CHECK(dst_transition(-4, -1e30f, spec, 0.5f, 0.5f) == -4);  // no overflow
  CHECK(dst_transition(2, 0.0f, spec, 0.0f, 0.0f) == 2);
  CHECK(dst_transition(2, -0.5f, spec, 0.99f, 0.0f) == 0);  // two whole steps down
}

TEST_CASE("transitions never leave the grid", "[dst]") {
  for (int p = -1; p >= -6; --p) {
    const DstSpec spec{p, 0.5f};
    Rng rng(static_cast<uint64_t>(-p));
    GridState s = 0;
    for (int i = 0; i < 20000; ++i) {
      s = dst_transition(s, rng.normal(0.0f, 0.3f), spec, rng);
      REQUIRE(is_grid_state(s, spec));
    }
  }
}

TEST_CASE("jump frequencies match tanh(th |v| / L)", "[dst]") {
  const DstSpec spec{-3, 0.5f};  // L = 1/8; states up to 8
  Rng rng(11);
  for (float fraction : {0.1f, 0.5f, 0.9f}) {
    const float dw = fraction / 8.0f;  // no whole step: only the gated one
    const int trials = 200000;
    int jumps = 0;
    for (int i = 0; i < trials; ++i) jumps += dst_transition(0, dw, spec, rng) == 1;
    const double expected = std::tanh(0.5 * fraction);
    const double sigma = std::sqrt(expected * (1 - expected) / trials);
    INFO("fraction " << fraction << ": " << static_cast<double>(jumps) / trials << " vs " << expected);
    CHECK(std::fabs(static_cast<double>(jumps) / trials - expected) < 5 * sigma);
  }
}

TEST_CASE("an off-grid landing splits evenly between its neighbours", "[dst]") {
  const DstSpec spec{-3, 0.5f};
  Rng rng(12);
  std::map<int, int> landed;
  const int trials = 100000;
  // 4 + 2 whole steps = 6, between 4 and 8 (fraction 0: the gate never fires).
  for (int i = 0; i < trials; ++i) landed[dst_transition(4, 2.0f / 8.0f, spec, rng)]++;
  REQUIRE(landed.size() == 2);
  CHECK(landed[4] == Approx(trials / 2).margin(5 * std::sqrt(trials / 4.0)));
  CHECK(landed[8] == Approx(trials / 2).margin(5 * std::sqrt(trials / 4.0)));
}

TEST_CASE("the same seed gives the same states", "[dst]") {
  const DstSpec spec{-3, 0.5f};
  auto run = [&](uint64_t seed) {
    Rng rng(seed), steps(99);
    std::vector<int> states;
    GridState s = 0;
    for (int i = 0; i < 1000; ++i) states.push_back(s = dst_transition(s, steps.normal(0.0f, 0.2f), spec, rng));
    return states;
  };
  CHECK(run(5) == run(5));
  CHECK(run(5) != run(6));
}
