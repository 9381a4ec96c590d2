// DST: the grid, projection, exact transitions, staying on the grid, and Monte Carlo jump
// frequencies against eq. 14's probability.
#include "optim/discrete_state_transition.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

#include "core/check.h"

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
    INFO("fraction " << fraction << ": " << static_cast<double>(jumps) / trials << " vs "
                     << expected);
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
    for (int i = 0; i < 1000; ++i)
      states.push_back(s = dst_transition(s, steps.normal(0.0f, 0.2f), spec, rng));
    return states;
  };
  CHECK(run(5) == run(5));
  CHECK(run(5) != run(6));
}

TEST_CASE("the optimizer's DstRule returns what dst_transition returns for the same draws",
          "[dst]") {
  Rng rng(21);
  int64_t compared = 0, mismatches = 0, gates_opened = 0;
  for (int min_exp = -6; min_exp <= -1; ++min_exp) {
    for (float th : {0.5f, 1.0f, 3.0f, 100.0f}) {
      const DstSpec spec{min_exp, th};
      const DstRule rule(spec);
      const int top = max_grid_state(spec);
      const float step = std::ldexp(1.0f, min_exp);
      std::vector<GridState> grid;
      for (int s = -top; s <= top; ++s)
        if (is_grid_state(s, spec)) grid.push_back(static_cast<GridState>(s));
      const uint64_t key =
          splitmix64(static_cast<uint64_t>(100 * min_exp) + static_cast<uint64_t>(th));
      for (uint64_t i = 0; i < 40000; ++i) {
        // Proposals at every scale: Adam-sized and tiny (z in tanhf's awkward range near 2^-12),
        // whole multiples of L, huge, and the non-finite ones.
        float dw;
        switch (i % 8) {
          case 0:
            dw = rng.normal(0.0f, 0.01f);
            break;
          case 1:
            dw = rng.normal(0.0f, 1e-4f * step);
            break;
          case 2:
            dw = rng.normal(0.0f, 3.0f * step);
            break;
          case 3:
            dw = static_cast<float>(static_cast<int>(rng.uniform(-9.0f, 9.0f))) * step;
            break;
          case 4:
            dw = rng.normal(0.0f, 1e30f);
            break;
          case 5:
            dw = i % 3 == 0 ? std::numeric_limits<float>::infinity()
                            : (i % 3 == 1 ? std::nanf("") : -0.0f);
            break;
          default:
            dw = rng.normal(0.0f, 0.3f * step);
            break;
        }
        const GridState s = grid[i % grid.size()];
        const GridState expected = dst_transition(s, dw, spec, counter_uniform(key, 2 * i),
                                                  counter_uniform(key, 2 * i + 1));
        const GridState got = rule(s, dw, key, i);
        mismatches += got != expected || rule.value(got) != grid_value(got, spec);
        gates_opened += std::isfinite(dw) && dw != 0.0f && expected != s;
        ++compared;
      }
    }
  }
  CHECK(compared == 6 * 4 * 40000);
  CHECK(mismatches == 0);
  CHECK(gates_opened > compared / 10);  // the draws exercised moves, not only standing still
}

TEST_CASE("tanhf exceeds its argument by at most 2^-35 on [0, 100], as DstRule assumes", "[dst]") {
  // DstRule closes the gate without tanh when u > z + 2^-32. Every float of [0, 100] was checked
  // once (the largest excess, 2^-35, near z = 2^-12); this samples them, densely where tanhf
  // rounds above z.
  uint32_t bits_of_100;
  const float hundred = 100.0f;
  std::memcpy(&bits_of_100, &hundred, sizeof hundred);
  int64_t sampled = 0;
  double largest_excess = 0;
  for (uint32_t b = 0; b <= bits_of_100; b += (b >= 0x39000000u && b < 0x3a000000u) ? 7 : 977) {
    float z;
    std::memcpy(&z, &b, sizeof z);
    largest_excess =
        std::max(largest_excess, static_cast<double>(std::tanh(z)) - static_cast<double>(z));
    ++sampled;
  }
  CHECK(sampled > 3000000);
  CHECK(largest_excess <= 0x1p-35);
  CHECK(largest_excess > 0);  // the sample reaches the range where tanhf rounds above z
}
