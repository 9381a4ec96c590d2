// Rng: reproducibility, ranges, moments, and thread-independent counter streams.
#include "core/rng.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace lowbit;

TEST_CASE("the same seed gives the same sequence", "[rng]") {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    CHECK(x == b.next_u64());
    differs = differs || x != c.next_u64();
  }
  CHECK(differs);
}

TEST_CASE("uniform and normal have the right moments", "[rng]") {
  Rng rng(1);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform();
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    su += u;
    const double z = rng.normal();
    sn += z;
    sn2 += z * z;
  }
  CHECK(su / n == Approx(0.5).margin(0.005));
  CHECK(sn / n == Approx(0.0).margin(0.01));
  CHECK(sn2 / n == Approx(1.0).margin(0.02));
}

TEST_CASE("below is uniform over its range", "[rng]") {
  Rng rng(3);
  int counts[7] = {};
  for (int i = 0; i < 70000; ++i) counts[rng.below(7)]++;
  for (int c : counts) CHECK(c == Approx(10000).margin(400));
}

TEST_CASE("state can be saved and restored", "[rng]") {
  Rng rng(5);
  rng.next_u64();
  const Rng::State saved = rng.state();
  const uint64_t expected = rng.next_u64();
  rng.set_state(saved);
  CHECK(rng.next_u64() == expected);
}

TEST_CASE("counter streams are pure functions of key and index", "[rng]") {
  CHECK(counter_uniform(9, 100) == counter_uniform(9, 100));
  CHECK(counter_uniform(9, 100) != counter_uniform(9, 101));
  CHECK(counter_uniform(9, 100) != counter_uniform(10, 100));
}
