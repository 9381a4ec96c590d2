// InputFile: only regular files are read, each other kind refused by name without blocking, and
// every read stops at the size the file had when it was opened.
#include "core/input_file.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "tests/not_regular_files.h"
#include "tests/temp_root.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

const testing::TempRoot temp_root("lowbit_input_file_test");

}  // namespace

TEST_CASE("InputFile reads a regular file and stops at its end", "[input_file]") {
  const fs::path path = temp_root.dir("files") / "six";
  std::ofstream(path, std::ios::binary) << "abcdef";
  InputFile file(path.string(), "a test file");
  CHECK(file.size() == 6);
  char two[2];
  file.read(two, 2);
  CHECK(std::string(two, 2) == "ab");
  CHECK(file.remaining() == 4);
  char many[16];
  CHECK(file.read_some(many, sizeof many) == 4);
  CHECK_THROWS_WITH(file.read(many, 1),
                    Catch::Contains("six: truncated: 1 bytes needed at byte 6, the file has 6 "
                                    "(expected a test file)"));
  const std::vector<uint8_t> all = file.read_all();
  CHECK(std::string(all.begin(), all.end()) == "abcdef");
  CHECK(regular_file_size(path.string(), "a test file") == 6);
}

TEST_CASE("InputFile refuses what is not a regular file, by name and without blocking",
          "[input_file]") {
  const fs::path dir = temp_root.fresh("kinds");
  const std::string what = "a test file";
  CHECK_THROWS_WITH(InputFile((dir / "absent").string(), what),
                    (dir / "absent").string() + ": file not found (expected a test file)");
  CHECK_THROWS_WITH(regular_file_size((dir / "absent").string(), what),
                    Catch::Contains("absent: file not found"));
  const fs::path path = dir / "odd";
  testing::check_refuses_what_is_not_a_regular_file(path, [&] { InputFile(path.string(), what); });
  testing::check_refuses_what_is_not_a_regular_file(
      path, [&] { regular_file_size(path.string(), what); });
}
