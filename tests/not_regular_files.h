// The paths every reader of files lowbit did not write must refuse by kind, before reading
// (core/input_file.h): a directory, a symlink to /dev/zero (read whole, it never ends) and a FIFO
// with no writer (its open would block the test forever).
#pragma once

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <string>

namespace lowbit::testing {

// Puts each of the three at `path` in turn and checks that read() throws a message naming the
// path and what it is ("<path>: is a FIFO, not a regular file"). `path` is removed afterwards.
inline void check_refuses_what_is_not_a_regular_file(const std::filesystem::path& path,
                                                     const std::function<void()>& read) {
  namespace fs = std::filesystem;
  const std::function<void()> make[] = {[&] { fs::create_directories(path); },
                                        [&] { fs::create_symlink("/dev/zero", path); },
                                        [&] { REQUIRE(::mkfifo(path.c_str(), 0600) == 0); }};
  const char* kinds[] = {"a directory", "a character device", "a FIFO"};
  for (int k = 0; k < 3; ++k) {
    fs::remove_all(path);
    make[k]();
    INFO(kinds[k]);
    CHECK_THROWS_WITH(read(), Catch::Contains(path.string() + ": is " + kinds[k] +
                                              ", not a regular file (expected "));
  }
  fs::remove_all(path);
}

}  // namespace lowbit::testing
