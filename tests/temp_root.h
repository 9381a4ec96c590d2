// TempRoot: a temporary directory for one test file in one process, removed when the test
// program exits, however the tests end.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace lowbit::testing {

class TempRoot {
 public:
  explicit TempRoot(const std::string& prefix)
      : root_(std::filesystem::temp_directory_path() /
              (prefix + "_" + std::to_string(::getpid()))) {}
  ~TempRoot() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  TempRoot(const TempRoot&) = delete;
  TempRoot& operator=(const TempRoot&) = delete;

  // The directory `name` under the root, created when missing (its files are kept).
  std::filesystem::path dir(const std::string& name) const {
    const std::filesystem::path path = root_ / name;
    std::filesystem::create_directories(path);
    return path;
  }

  // An empty directory `name` under the root (emptied first when it exists).
  std::filesystem::path fresh(const std::string& name) const {
    const std::filesystem::path dir = root_ / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace lowbit::testing
