// Shape: element counts, indexing, printing and errors.
#include "core/shape.h"

#include <catch2/catch.hpp>

#include "core/check.h"

using namespace lowbit;

TEST_CASE("shape counts elements and indexes from either end", "[shape]") {
  const Shape s{2, 3, 4};
  CHECK(s.numel() == 24);
  CHECK(s.rank() == 3);
  CHECK(s[0] == 2);
  CHECK(s[-1] == 4);
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{5, 0}.numel() == 0);
  CHECK(s.str() == "(2, 3, 4)");
  CHECK(Shape{7}.str() == "(7,)");
}

TEST_CASE("shape rejects negative sizes and bad indices", "[shape]") {
  CHECK_THROWS_AS(Shape({2, -1}), Error);
  CHECK_THROWS_WITH(Shape({2, 3})[2], Catch::Contains("out of range"));
}

TEST_CASE("an element count is computed without overflow, or refused", "[shape]") {
  // Found by the checkpoint fuzz target: a stored shape with a zero after two huge dimensions
  // overflowed the product taken from the left (undefined behaviour) though the count is 0.
  const int64_t huge = int64_t{1} << 40;
  CHECK(Shape({huge, huge, 0}).numel() == 0);
  CHECK(Shape({0, huge, huge}).numel() == 0);
  CHECK(Shape({int64_t{1} << 31, int64_t{1} << 31}).numel() == int64_t{1} << 62);
  CHECK_THROWS_WITH(Shape({huge, huge}),
                    "shape (1099511627776, 1099511627776) has more elements than a 64-bit count "
                    "holds");
}
