// A training checkpoint's configuration and progress read back: a value of the wrong type, in any
// key, is an error that names the file and the key (the mutants of a stored configuration once
// ended in nlohmann's "type must be boolean, but is number", which names neither); a value no flag
// could have given is refused by name before it sizes a model.
#include "apps/train/training_checkpoint.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

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
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    Catch::StartsWith(path) &&
                        Catch::Contains("key /width_multiplier: 1000 is refused by "
                                        "--width-multiplier (") &&
                        Catch::Contains("0.05") && Catch::Contains("4"));
  nlohmann::json unknown = config;
  unknown["model"] = "lenet6";
  rewrite(path, unknown);
  CHECK_THROWS_WITH(load_trained_model(path),
                    Catch::StartsWith(path) &&
                        Catch::Contains("key /model: unknown model 'lenet6'; known models: "));
  // Not an object: every key would be absent, and the run the defaults'.
  rewrite(path, nlohmann::json::array());
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    path +
                        ": not a lowbit-train checkpoint (its configuration: a JSON array, "
                        "expected an object of settings)");
}

TEST_CASE("every stored value goes through its flag's check, named with the file and the key",
          "[training_checkpoint]") {
  const std::string path = saved_run("flags.ckpt");
  const nlohmann::json config = nlohmann::json::parse(load_checkpoint(path).config);
  // Each value below has the right JSON type, and its flag refuses it on the command line.
  const std::vector<std::pair<std::string, nlohmann::json>> refused = {{"weights", "resnet20"},
                                                                       {"width_multiplier", -1},
                                                                       {"epochs", 0},
                                                                       {"act", "gelu"},
                                                                       {"optimizer", "rmsprop"},
                                                                       {"dataset", "imagenet"},
                                                                       {"act_bits", 9},
                                                                       {"dst_th", -0.5},
                                                                       {"crop_padding", -2},
                                                                       {"schedule", "exponential"},
                                                                       {"batch_size", 1u << 20},
                                                                       {"lr", 1e9},
                                                                       {"weight_min_exp", 0},
                                                                       {"recalibrate_bn", -7},
                                                                       {"act_backward", "ste"}};
  for (const auto& [key, value] : refused) {
    nlohmann::json mutant = config;
    mutant[key] = value;
    rewrite(path, mutant);
    INFO(key << " = " << value.dump());
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    CHECK_THROWS_WITH(read_training_checkpoint(path),
                      Catch::StartsWith(path +
                                        ": not a lowbit-train checkpoint (its configuration: "
                                        "key /" +
                                        key + ": " + text + " is refused by --"));
  }
  // 2^31 is named as stored, not as the int it would wrap to.
  nlohmann::json wraps = config;
  wraps["epochs"] = 2147483648u;
  rewrite(path, wraps);
  // (The JSON reader refuses it first, apps/common/json_error.h; so a fraction for a count.)
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    Catch::Contains("key /epochs: 2147483648 is out of its integer's range"));
  wraps["epochs"] = 2.5;
  rewrite(path, wraps);
  CHECK_THROWS_WITH(read_training_checkpoint(path),
                    Catch::Contains("key /epochs: 2.5, expected an integer"));
  // Every run names its model and data set: a missing one is not silently the default.
  for (const char* key : {"model", "dataset"}) {
    nlohmann::json missing = config;
    missing.erase(key);
    rewrite(path, missing);
    CHECK_THROWS_WITH(read_training_checkpoint(path),
                      Catch::Contains(std::string("key /") + key + " missing"));
  }
  // The values a run saves, defaults that stand for "resolved later" included, still load.
  nlohmann::json unresolved = config;
  unresolved["lr"] = -1;
  unresolved["weight_decay"] = -1;
  rewrite(path, unresolved);
  CHECK(read_training_checkpoint(path).config.lr == -1.0f);
}

TEST_CASE("a stored zero_init_residual on a model without residual blocks names the setting",
          "[training_checkpoint]") {
  const std::string path = saved_run("zero_init.ckpt");
  nlohmann::json config = nlohmann::json::parse(load_checkpoint(path).config);
  config["zero_init_residual"] = true;
  rewrite(path, config);
  CHECK_THROWS_WITH(load_trained_model(path),
                    Catch::Contains("zero_init_residual (--zero-init-residual) is set, but lenet5 "
                                    "has no residual blocks") &&
                        !Catch::StartsWith("--zero-init-residual"));
}

TEST_CASE("a checkpoint whose weights are NaN is refused before it runs", "[training_checkpoint]") {
  const std::string path = saved_run("nan.ckpt");
  Checkpoint c = load_checkpoint(path);
  NamedTensor* weight = nullptr;
  for (NamedTensor& t : c.tensors)
    if (t.name == "model.conv1.weight") weight = &t;
  REQUIRE(weight != nullptr);
  weight->tensor.data()[5] = std::nanf("");
  save_checkpoint(path, c);
  CHECK_THROWS_WITH(load_trained_model(path),
                    Catch::Contains(path + ": tensor 'model.conv1.weight' holds nan at element 5"));
}
