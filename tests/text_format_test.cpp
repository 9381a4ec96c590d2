// fixed(): rounding to the asked decimals, zero decimals, negative values.
#include "apps/common/text_format.h"

#include <catch2/catch.hpp>

using namespace lowbit;

TEST_CASE("fixed prints exactly the asked number of decimals", "[format]") {
  CHECK(fixed(97.456, 2) == "97.46");
  CHECK(fixed(3.0, 1) == "3.0");
  CHECK(fixed(125.6, 0) == "126");
  CHECK(fixed(-0.125, 3) == "-0.125");
  CHECK(fixed(0.0, 2) == "0.00");
}
