// The level operation (core/runtime/levels.h): exact values at and around the thresholds of the
// 3-bit power-of-two activation, its parameters, and the refusal of malformed ones.
#include "core/runtime/levels.h"

#include <catch2/catch.hpp>

#include "core/check.h"

using namespace lowbit;
using namespace lowbit::runtime;

namespace {

// The 3-bit activation with q2 = 1/8 in fixed point with 22 fraction bits: thresholds 1/16 and
// 3/16, levels 1/8 and 1/4.
LevelMap three_bit(bool is_signed) {
  LevelMap m;
  m.is_signed = is_signed;
  m.thresholds = {262144, 786432};
  m.levels = {524288, 1048576};
  return m;
}

}  // namespace

TEST_CASE("a level map sends each value to its level by the quantizer's rule",
          "[runtime][levels]") {
  const LevelMap m = three_bit(true);
  // A value on a threshold stays below it (the float rule |x| > t), one unit above goes up.
  CHECK(m.apply(0) == 0);
  CHECK(m.apply(262144) == 0);
  CHECK(m.apply(262145) == 524288);
  CHECK(m.apply(786432) == 524288);
  CHECK(m.apply(786433) == 1048576);
  CHECK(m.apply(INT32_MAX) == 1048576);
  CHECK(m.apply(-262144) == 0);
  CHECK(m.apply(-262145) == -524288);
  CHECK(m.apply(-786433) == -1048576);
  CHECK(m.apply(INT32_MIN) == -1048576);
  const LevelMap u = three_bit(false);
  CHECK(u.apply(786433) == 1048576);
  CHECK(u.apply(-786433) == 0);
  CHECK(u.apply(INT32_MIN) == 0);
}

TEST_CASE("a level map's parameters go and come back, malformed ones are named",
          "[runtime][levels]") {
  const LevelMap m = three_bit(false);
  CHECK(m.params() == std::vector<int64_t>{0, 262144, 786432, 524288, 1048576});
  const LevelMap back = level_map(m.params());
  CHECK(back.is_signed == false);
  CHECK(back.thresholds == m.thresholds);
  CHECK(back.levels == m.levels);
  CHECK(level_params_error(m.params()).empty());
  CHECK(level_params_error({1, 5}) ==
        "2 parameters; expected the sign flag, then 1..15 thresholds and as many levels");
  CHECK(level_params_error({2, 5, 6}) == "sign flag 2; expected 0 or 1");
  CHECK(level_params_error({1, 9, 5, 1, 2}) ==
        "threshold 1 = 5; expected strictly ascending values in 0..2^31-1");
  CHECK(level_params_error({1, -1, 2}) ==
        "threshold 0 = -1; expected strictly ascending values in 0..2^31-1");
  CHECK(level_params_error({1, 1, 5, 4, 3}) ==
        "level 1 = 3; expected ascending values in 0..2^31-1");
  CHECK(level_params_error({1, 1, int64_t{1} << 31}) ==
        "level 0 = 2147483648; expected ascending values in 0..2^31-1");
  CHECK_THROWS_WITH(level_map({1, 5}), Catch::StartsWith("level operation: 2 parameters"));
}
