// Real data for the tests that check against it: where the user keeps it ($LOWBIT_DATA/<name> or
// ./data/<name>, as resolve_data_dir finds it), else the copies in ../shared/data when that folder
// is there. CIFAR-10 is kept there as a tarball: its 10,000 test images and the first 1,000
// training images of each class are unpacked once per test program into `root`. The project never
// needs ../shared: without data the tests skip and say so.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/check.h"
#include "data/datasets.h"
#include "data/split.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace lowbit::testing {

// A directory that lowbit's programs take as --data-dir for `dataset` ("mnist" or "cifar10"), or
// "" when there is none.
inline std::string real_data_dir(const std::string& dataset, const TempRoot& root) {
  namespace fs = std::filesystem;
  try {
    return resolve_data_dir(dataset, "");
  } catch (const Error&) {
  }
  const fs::path shared(LOWBIT_SHARED_DATA);
  if (dataset == "mnist" && fs::is_directory(shared / "mnist")) return (shared / "mnist").string();
  const fs::path tarball = shared / "cifar10-jpeg.tar.gz";
  if (dataset != "cifar10" || !fs::is_regular_file(tarball)) return "";
  const fs::path dir = root.dir("cifar10");
  if (!fs::is_directory(dir / "cifar10-jpeg" / "test")) {
    const CommandResult tar =
        run_command("tar -xzf " + tarball.string() + " -C " + dir.string() +
                    " --wildcards 'cifar10-jpeg/train/*/0[0-9][0-9][0-9].jpg' cifar10-jpeg/test "
                    "2>&1");
    LOWBIT_CHECK(tar.status == 0, tarball.string(), ": tar failed: ", tar.output);
  }
  return dir.string();
}

// The first `count` test images of `dataset`, the classes interleaved; nothing without data. The
// data set is loaded once per test program.
inline std::optional<Dataset> real_test_images(const std::string& dataset, int64_t count,
                                               const TempRoot& root) {
  static std::map<std::string, std::optional<Dataset>> loaded;
  if (loaded.count(dataset) == 0) {
    const std::string dir = real_data_dir(dataset, root);
    loaded[dataset] =
        dir.empty() ? std::nullopt
                    : std::optional<Dataset>(interleave_classes(load_dataset(dataset, dir).test));
  }
  const std::optional<Dataset>& test = loaded[dataset];
  if (!test) return std::nullopt;
  return take_first(*test, count);
}

}  // namespace lowbit::testing
