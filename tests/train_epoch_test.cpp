// The epoch loop's accounting (apps/train/train_epoch.h): count_correct takes each row's first
// arg-max as its prediction.
#include "apps/train/train_epoch.h"

#include <catch2/catch.hpp>

using namespace lowbit;

TEST_CASE("count_correct counts the rows whose first arg-max is the label", "[apps][train]") {
  const Tensor logits = Tensor::from_vector({4, 3}, {0.1f, 0.7f, 0.2f,      // 1
                                                     2.0f, -1.0f, 0.5f,     // 0
                                                     0.3f, 0.3f, 0.1f,      // a tie: 0
                                                     -0.2f, -0.4f, 0.0f});  // 2
  CHECK(count_correct(logits, {1, 0, 0, 2}) == 4);
  CHECK(count_correct(logits, {1, 0, 1, 2}) == 3);  // the tie goes to the first class
  CHECK(count_correct(logits, {0, 1, 2, 0}) == 0);
}
