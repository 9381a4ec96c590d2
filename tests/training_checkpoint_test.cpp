// A training checkpoint's configuration and progress read back: a value of the wrong type, in any
// key, is an error that names the file and the key (the mutants of a stored configuration once
// ended in nlohmann's "type must be boolean, but is number", which names neither); a value no flag
// could have given is refused by name before it sizes a model.
#include "apps/train/training_checkpoint.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "core/check.h"
#include "core/checkpoint.h"
#include "data/datasets.h"
#include "tests/temp_root.h"

using namespace lowbit;

namespace {

const testing::TempRoot temp_root("lowbit_training_checkpoint_test");

// A LeNet-5 run's checkpoint after one epoch.
std::string saved_run(const std::string& name) {
  TrainConfig config;
  config.model = "lenet5";
  config.dataset = "mnist";
  config.resolve();
  const auto model = build_model(config, dataset_info("mnist"));
  RunProgress progress;
  progress.epochs_done = 1;
  progress.history.resize(1);
  const std::string path = (temp_root.dir("runs") / name).string();
  save_training_checkpoint(path, to_json(config), *model, {}, progress);
  return path;
}

// `path` with its configuration (or, when `blob` is given, that entry) replaced by `json`; the
// checksum is recomputed, as anyone editing a file can.
void rewrite(const std::string& path, const nlohmann::json& json, const std::string& blob = "") {
  Checkpoint c = load_checkpoint(path);
  const std::string text = json.dump();
  if (blob.empty()) c.config = text;
  for (NamedBlob& b : c.blobs)
    if (b.name == blob) b.bytes.assign(text.begin(), text.end());
  save_checkpoint(path, c);
}

}  // namespace

TEST_CASE("every key of a stored configuration given a wrong type is named with the file",
          "[training_checkpoint]") {
  const std::string path = saved_run("mutant.ckpt");
  const nlohmann::json config = nlohmann::json::parse(load_checkpoint(path).config);
  REQUIRE(config.size() > 40);
  for (const auto& [key, value] : config.items()) {
    // A type no conversion accepts: nlohmann reads a boolean as a number, never a string.
    const nlohmann::json wrong = value.is_string()    ? nlohmann::json(true)
                                 : value.is_array()   ? nlohmann::json(7)
                                 : value.is_boolean() ? nlohmann::json(3)
                                                      : nlohmann::json("x");
    nlohmann::json mutant = config;
    mutant[key] = wrong;
    rewrite(path, mutant);
    INFO(key);
    CHECK_THROWS_WITH(read_training_checkpoint(path),
                      Catch::StartsWith(path +
                                        ": not a lowbit-train checkpoint (its "
                                        "configuration: key /" +
                                        key + ": type must be "));
    CHECK_THROWS_WITH(load_trained_model(path), Catch::Contains("key /" + key + ": "));
  }
  // The exact line for the boolean of the report.
  nlohmann::json mutant = config;
  mutant["augment"] = 1;
  rewrite(path, mutant);
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    path +
                        ": not a lowbit-train checkpoint (its configuration: key /augment: type "
                        "must be boolean, but is number)");
}

TEST_CASE("a wrong type in a stored progress is named with the file and its key",
          "[training_checkpoint]") {
  const std::string path = saved_run("progress.ckpt");
  const std::vector<uint8_t> text = load_checkpoint(path).blob("progress").bytes;
  nlohmann::json progress = nlohmann::json::parse(text.begin(), text.end());
  progress["history"][0]["val_loss"] = "low";
  rewrite(path, progress, "progress");
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    path +
                        ": not a lowbit-train checkpoint (its progress: key /history: type "
                        "must be number, but is string)");
  progress["history"][0]["val_loss"] = 0.5;
  progress.erase("epochs_done");
  rewrite(path, progress, "progress");
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    Catch::Contains(path + ": not a lowbit-train checkpoint (its progress: ") &&
                        Catch::Contains("'epochs_done' not found"));
}

TEST_CASE("a stored value no flag could give is refused with the file's name",
          "[training_checkpoint]") {
  const std::string path = saved_run("values.ckpt");
  const nlohmann::json config = nlohmann::json::parse(load_checkpoint(path).config);
  // The model's size grows with the square of the width multiplier.
  nlohmann::json wide = config;
  wide["width_multiplier"] = 1000;
  rewrite(path, wide);
  CHECK_THROWS_WITH(
      read_training_checkpoint(path),
      Catch::StartsWith(path) && Catch::Contains("width_multiplier 1000, expected 0.05 to 4"));
  nlohmann::json unknown = config;
  unknown["model"] = "lenet6";
  rewrite(path, unknown);
  CHECK_THROWS_WITH(load_trained_model(path),
                    Catch::StartsWith(path + ": cannot rebuild the model of its configuration (") &&
                        Catch::Contains("lenet6"));
  // Not an object: every key would be absent, and the run the defaults'.
  rewrite(path, nlohmann::json::array());
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    path +
                        ": not a lowbit-train checkpoint (its configuration: a JSON array, "
                        "expected an object of settings)");
}
