// The fuzz targets (tests/fuzz/) replayed on their committed corpora in the ordinary build: every
// seed and every input the fuzzer once crashed on (regression-*) must end in the reader's return or
// a one-line lowbit::Error naming the file, and each corpus must hold inputs of both kinds, so that
// a reader that starts refusing its valid seeds (or taking its invalid ones) is seen here too.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

struct Target {
  const char* name;
  fuzz::Outcome (*run)(const uint8_t*, size_t);
};

// Every target; tests/fuzz/CMakeLists.txt builds each as a libFuzzer program <name>_fuzz.
const std::vector<Target>& targets() {
  static const std::vector<Target> all = {{"checkpoint", fuzz::checkpoint},
                                          {"idx", fuzz::idx},
                                          {"cifar10", fuzz::cifar10},
                                          {"image_folder", fuzz::image_folder},
                                          {"svhn", fuzz::svhn},
                                          {"train_config", fuzz::train_config},
                                          {"quantize_config", fuzz::quantize_config},
                                          {"training_checkpoint", fuzz::training_checkpoint},
                                          {"lbm", fuzz::lbm}};
  return all;
}

const fs::path kFuzzDir = fs::path(LOWBIT_SOURCE_DIR) / "tests" / "fuzz";

std::vector<uint8_t> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("every fuzz target reads or refuses each input of its corpus with one line", "[fuzz]") {
  for (const Target& target : targets()) {
    const fs::path corpus = kFuzzDir / "corpus" / target.name;
    INFO("target " << target.name << ", corpus " << corpus.string());
    REQUIRE(fs::is_directory(corpus));
    std::set<fs::path> files;  // sorted: the same order on every run
    for (const fs::directory_entry& entry : fs::directory_iterator(corpus))
      if (entry.is_regular_file()) files.insert(entry.path());
    int read = 0, refused = 0;
    for (const fs::path& file : files) {
      INFO("input " << file.filename().string());
      const std::vector<uint8_t> bytes = bytes_of(file);
      fuzz::Outcome outcome = fuzz::Outcome::kRefused;
      CHECK_NOTHROW(outcome = target.run(bytes.data(), bytes.size()));
      (outcome == fuzz::Outcome::kRead ? read : refused) += 1;
    }
    CHECK(read > 0);
    CHECK(refused > 0);
  }
}

TEST_CASE("every fuzz target has a corpus and every corpus a target", "[fuzz]") {
  std::set<std::string> named, found;
  for (const Target& target : targets()) named.insert(target.name);
  for (const fs::directory_entry& entry : fs::directory_iterator(kFuzzDir / "corpus"))
    found.insert(entry.path().filename().string());
  CHECK(found == named);
  // One source per target, and nothing else named like one.
  std::set<std::string> sources;
  for (const fs::directory_entry& entry : fs::directory_iterator(kFuzzDir)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_fuzz.cpp";
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      sources.insert(name.substr(0, name.size() - suffix.size()));
  }
  CHECK(sources == named);
}
