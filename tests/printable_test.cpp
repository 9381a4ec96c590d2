// Names read from files in messages: control bytes escaped (a NUL would cut the printed line, a
// newline split it), long names cut, and every lowbit::Error escaped the same way.
#include "core/printable.h"

#include <catch2/catch.hpp>
#include <string>

#include "core/check.h"

using namespace lowbit;

TEST_CASE("control bytes are escaped, other bytes kept, and escaping twice changes nothing",
          "[printable]") {
  const std::string name("conv\0w\n\x7f\x1b\\1 \xc3\xa9", 14);
  CHECK(escape_control_bytes(name) == "conv\\x00w\\x0a\\x7f\\x1b\\1 \xc3\xa9");
  CHECK(escape_control_bytes(escape_control_bytes(name)) == escape_control_bytes(name));
  CHECK(escape_control_bytes("fc1.weight") == "fc1.weight");
}

TEST_CASE("a long name is cut with its length", "[printable]") {
  CHECK(printable("abc", 3) == "abc");
  CHECK(printable("abcdef", 3) == "abc... (6 bytes)");
  CHECK(printable(std::string(100000, 'x')).size() < 140);
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
}

TEST_CASE("lowbit::Error keeps the whole message on one line", "[printable]") {
  const Error e(concat("x.ckpt: tensor '", std::string("a\0b\nc", 5), "' has rank 9"));
  // what() is a C string: without the escape it would end at the NUL, before the rank.
  CHECK(std::string(e.what()) == "x.ckpt: tensor 'a\\x00b\\x0ac' has rank 9");
}
