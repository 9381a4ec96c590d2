// write_file_atomic: the whole new file or the old one, never a part, and a clear error.
#include "core/atomic_file.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/check.h"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path root =
      fs::temp_directory_path() / ("lowbit_atomic_file_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(root); }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
};

}  // namespace

TEST_CASE("write_file_atomic writes, replaces whole, and leaves no temporary file",
          "[atomic_file]") {
  TempDir dir;
  const fs::path path = dir.root / "out.json";
  lowbit::write_file_atomic(path.string(), std::string("first version, longer than the second"));
  CHECK(read_all(path) == "first version, longer than the second");
  const std::string binary("a\0b", 3);
  lowbit::write_file_atomic(path.string(), binary.data(), binary.size());
  CHECK(read_all(path) == binary);
  CHECK_FALSE(fs::exists(dir.root / "out.json.tmp"));
  lowbit::write_file_atomic(path.string(), std::string());
  CHECK(fs::file_size(path) == 0);
}

TEST_CASE("write_file_atomic names the file it cannot write and keeps what was there",
          "[atomic_file]") {
  TempDir dir;
  CHECK_THROWS_WITH(
      lowbit::write_file_atomic((dir.root / "missing" / "x.csv").string(), std::string("x")),
      Catch::Contains("missing/x.csv: cannot write") && Catch::Contains("writable"));
  // A directory in the way: the rename fails, the directory stays, the temporary file is removed.
  const fs::path blocked = dir.root / "blocked";
  fs::create_directories(blocked / "inside");
  CHECK_THROWS_WITH(lowbit::write_file_atomic(blocked.string(), std::string("data")),
                    Catch::Contains("blocked: cannot finish writing"));
  CHECK(fs::is_directory(blocked / "inside"));
  CHECK_FALSE(fs::exists(dir.root / "blocked.tmp"));
}
