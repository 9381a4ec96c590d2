// Dropout: keep rate, scaling, thread-count independence, evaluation identity.
#include "layers/dropout.h"

#include <catch2/catch.hpp>

#include "core/check.h"
#include "core/parallel.h"

using namespace lowbit;

TEST_CASE("dropout keeps 1 - p of the elements, scaled by 1 / (1 - p)", "[dropout]") {
  Rng rng(1);
  const auto y = dropout(Tensor::full({100000}, 1.0f), 0.25f, true, rng).to_vector();
  int kept = 0;
  for (float v : y) {
    REQUIRE((v == 0.0f || v == Approx(1.0f / 0.75f)));
    kept += v != 0.0f;
  }
  CHECK(kept == Approx(75000).margin(700));
}

TEST_CASE("the mask depends on the generator only, not on the thread count", "[dropout]") {
  const int saved = num_threads();
  Tensor x = Tensor::full({70000}, 1.0f);
  set_num_threads(1);
  Rng a(9);
  const auto one = dropout(x, 0.5f, true, a).to_vector();
  set_num_threads(2);
  Rng b(9);
  const auto two = dropout(x, 0.5f, true, b).to_vector();
  set_num_threads(saved);
  CHECK(one == two);
}

TEST_CASE("dropout is the identity in evaluation and rejects bad probabilities", "[dropout]") {
  Rng rng(2);
  Tensor x = Tensor::full({10}, 3.0f);
  CHECK(dropout(x, 0.5f, false, rng).to_vector() == x.to_vector());
  CHECK_THROWS_WITH(dropout(x, 1.0f, true, rng), Catch::Contains("probability 1"));
  CHECK_THROWS_AS(Dropout(-0.1f), Error);
}
