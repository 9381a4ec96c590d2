// legacy_names: the names layers had before module paths, as the old builders gave them (the
// literal names below are theirs), and old-style checkpoints, written by the test, loading into
// today's models: a power-of-two LeNet-5 with DST's grid states and Adam's moments, a float
// ResNet-20 as lowbit-eval loads it, and the error for a file that matches neither naming.
#include "models/legacy_names.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "apps/train/run_setup.h"
#include "apps/train/training_checkpoint.h"
#include "core/checkpoint.h"
#include "core/rng.h"
#include "data/datasets.h"
#include "layers/state_dict.h"
#include "models/model_zoo.h"
#include "tests/temp_root.h"
#include "tests/zoo_options.h"

using namespace lowbit;

namespace {

std::shared_ptr<Module> zoo_model(const std::string& name, bool pow2 = false) {
  ModelOptions o = testing::zoo_options(name);
  if (pow2) o.activation.kind = ActivationSpec::Kind::kPow2;
  Rng rng(0);
  return make_model(name, o, rng);
}

// `name` with every dotted component sequence `from` (at the start or after a dot) replaced by
// `to`.
std::string replace_path(std::string name, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = name.find(from + ".", at)) != std::string::npos;) {
    if (at == 0 || name[at - 1] == '.') {
      name.replace(at, from.size(), to);
      at += to.size();
    } else {
      at += from.size();
    }
  }
  return name;
}

// LeNet-5 with BN, as the old builder numbered it: conv, bn, activation, pool, conv, bn,
// activation, pool, flatten, fc, bn, activation, fc, bn, activation, fc.
const std::vector<std::pair<std::string, std::string>> kLenetBnOld = {
    {"conv1", "0"}, {"bn1", "1"},  {"conv2", "4"}, {"bn2", "5"}, {"fc1", "9"},
    {"bn3", "10"},  {"fc2", "12"}, {"bn4", "13"},  {"fc3", "15"}};

// Every name of `c` (tensors and blobs) in the old LeNet-5 naming.
void to_old_lenet_names(Checkpoint& c) {
  for (NamedTensor& t : c.tensors)
    for (const auto& [now, before] : kLenetBnOld) t.name = replace_path(t.name, now, before);
  for (NamedBlob& b : c.blobs)
    for (const auto& [now, before] : kLenetBnOld) b.name = replace_path(b.name, now, before);
}

// A lowbit-train configuration of `model` on `dataset`, float or with power-of-two weights and
// activations.
TrainConfig run_config(const std::string& model, const std::string& dataset, bool pow2) {
  TrainConfig c;
  c.model = model;
  c.dataset = dataset;
  if (pow2) c.weights = c.act = "pow2";
  c.resolve();
  return c;
}

void check_same_state(const Module& a, const Module& b) {
  const std::vector<NamedTensor> x = state_dict(a), y = state_dict(b);
  REQUIRE(x.size() == y.size());
  for (size_t k = 0; k < x.size(); ++k) {
    INFO(x[k].name);
    CHECK(x[k].name == y[k].name);
    CHECK(x[k].tensor.to_vector() == y[k].tensor.to_vector());
  }
}

}  // namespace

TEST_CASE("legacy_module_paths: the old builders' names for every model family",
          "[models][legacy_names]") {
  using Paths = std::map<std::string, std::string>;
  auto check_paths = [](const std::string& model, bool pow2, const Paths& expected) {
    const Paths paths = legacy_module_paths(*zoo_model(model, pow2));
    for (const auto& [now, before] : expected) {
      INFO(model << ": " << now);
      REQUIRE(paths.count(now) == 1);
      CHECK(paths.at(now) == before);
    }
  };
  check_paths("lenet5", false,
              {{"conv1", "0"},
               {"relu1", "1"},
               {"pool1", "2"},
               {"conv2", "3"},
               {"flatten", "6"},
               {"fc1", "7"},
               {"fc2", "9"},
               {"fc3", "11"}});
  check_paths(
      "lenet5", true,
      {{"conv1", "0"}, {"bn1", "1"}, {"conv2", "4"}, {"fc1", "9"}, {"bn4", "13"}, {"fc3", "15"}});
  check_paths("resnet20", false,
              {{"conv1", "stem.0"},
               {"bn1", "stem.1"},
               {"relu", "stem.2"},
               {"layer1.0.conv1", "stages.0.0.conv1"},
               {"layer2.0.shortcut", "stages.1.0.shortcut"},
               {"layer3.2.bn2", "stages.2.2.bn2"},
               {"avgpool", "pool"},
               {"fc", "fc"}});
  check_paths("resnet18", false,
              {{"layer2.0.downsample.0", "stages.1.0.shortcut.0"},
               {"layer4.0.downsample.1", "stages.3.0.shortcut.1"},
               {"layer4.1.conv2", "stages.3.1.conv2"}});
  check_paths(
      "resnet50", false,
      {{"layer1.0.downsample.0", "stages.0.0.shortcut.0"}, {"layer3.5.conv3", "stages.2.5.conv3"}});
  // vgg7: 6 convolutions with BN and activation, 3 poolings (21 modules), flatten,
  // fc-BN-activation-fc.
  check_paths("vgg7", false,
              {{"features.0", "0"},
               {"features.1", "1"},
               {"features.20", "20"},
               {"flatten", "21"},
               {"classifier.0", "22"},
               {"classifier.1", "23"},
               {"classifier.3", "25"}});
  check_paths(
      "vgg16", false,
      {{"features.0", "0"}, {"features.43", "43"}, {"flatten", "44"}, {"classifier.0", "45"}});
  // mobilenetv2: stem 0-2, blocks 3-19 (the first without expansion: 5 modules, the others 8), last
  // conv-BN-activation 20-22, pooling 23, dropout 24, fc 25.
  check_paths("mobilenetv2", false,
              {{"features.0.0", "0"},
               {"features.0.1", "1"},
               {"features.1", "3"},
               {"features.1.conv.0.0", "3.body.0"},
               {"features.1.conv.1", "3.body.3"},
               {"features.1.conv.2", "3.body.4"},
               {"features.2.conv.1.0", "4.body.3"},
               {"features.2.conv.3", "4.body.7"},
               {"features.17", "19"},
               {"features.18.0", "20"},
               {"avgpool", "23"},
               {"classifier.0", "24"},
               {"classifier.1", "25"}});
}

TEST_CASE("legacy_entry_names: one distinct old name for every renamed parameter and buffer",
          "[models][legacy_names]") {
  for (const std::string& name : model_names()) {
    auto model = zoo_model(name);
    const std::map<std::string, std::string> old_of = legacy_entry_names(*model);
    std::set<std::string> now, before;
    for (const NamedTensor& t : state_dict(*model)) now.insert(t.name);
    for (const auto& [n, b] : old_of) {
      INFO(name << ": " << n);
      CHECK(now.count(n) == 1);
      CHECK(before.insert(b).second);
    }
  }
  const auto lenet = legacy_entry_names(*zoo_model("lenet5", true));
  CHECK(lenet.at("conv1.weight") == "0.weight");
  CHECK(lenet.at("bn2.running_var") == "5.running_var");
  CHECK(lenet.at("fc3.bias") == "15.bias");
  const auto resnet = legacy_entry_names(*zoo_model("resnet18"));
  CHECK(resnet.at("layer2.0.downsample.1.running_mean") == "stages.1.0.shortcut.1.running_mean");
  CHECK(resnet.count("fc.weight") == 0);  // unchanged
}

TEST_CASE(
    "an old power-of-two LeNet-5 checkpoint resumes with its DST and Adam state and evaluates",
    "[apps][legacy_names]") {
  const lowbit::testing::TempRoot root("legacy_names_test");
  const TrainConfig config = run_config("lenet5", "mnist", true);
  const DatasetInfo& info = dataset_info(config.dataset);
  auto model = build_model(config, info);
  auto optimizers = build_optimizers(config, *model);
  std::vector<Optimizer*> raw;
  for (auto& o : optimizers) raw.push_back(o.get());
  // A few steps give every optimizer state non-trivial values.
  Rng rng(3);
  for (int step = 0; step < 2; ++step) {
    for (auto* o : raw) o->zero_grad();
    for (const Parameter& p : model->parameters()) {
      float* g = p.tensor.grad();
      for (int64_t i = 0; i < p.tensor.numel(); ++i) g[i] = rng.uniform(-1.0f, 1.0f);
    }
    for (auto* o : raw) o->step();
  }
  const std::string path = (root.dir("ckpt") / "new.ckpt").string();
  save_training_checkpoint(path, to_json(config), *model, raw, RunProgress{});

  // The same file as it was written before module paths.
  Checkpoint c = load_checkpoint(path);
  to_old_lenet_names(c);
  REQUIRE(c.has_tensor("model.1.weight"));
  REQUIRE_FALSE(c.has_tensor("model.bn1.weight"));
  bool grid_states = false;
  for (const NamedBlob& b : c.blobs)
    grid_states = grid_states || b.name.find(".dst.4.weight") != std::string::npos;
  REQUIRE(grid_states);  // conv2's weight is stored only as DST's states, under its old name
  const std::string old_path = (root.dir("ckpt") / "old.ckpt").string();
  save_checkpoint(old_path, c);

  // Resuming: the model and every optimizer's state (Adam's moments and steps, DST's states).
  auto resumed = build_model(config, info);
  auto resumed_optimizers = build_optimizers(config, *resumed);
  std::vector<Optimizer*> resumed_raw;
  for (auto& o : resumed_optimizers) resumed_raw.push_back(o.get());
  restore_training_checkpoint(old_path, *resumed, resumed_raw, false);
  check_same_state(*model, *resumed);
  for (size_t k = 0; k < raw.size(); ++k) {
    const std::vector<NamedTensor> a = raw[k]->state(), b = resumed_raw[k]->state();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(a[i].name);
      CHECK(a[i].name == b[i].name);
      CHECK(a[i].tensor.to_vector() == b[i].tensor.to_vector());
    }
  }
  // Evaluating (lowbit-eval, lowbit-report): the grid weights decoded from their states.
  const TrainedModel loaded = load_trained_model(old_path);
  check_same_state(*model, *loaded.model);
}

TEST_CASE(
    "an old float ResNet-20 checkpoint loads for evaluation, and a file of neither naming is named",
    "[apps][legacy_names]") {
  const lowbit::testing::TempRoot root("legacy_names_test_resnet");
  const TrainConfig config = run_config("resnet20", "cifar10", false);
  auto model = build_model(config, dataset_info(config.dataset));
  Rng rng(5);
  for (const Parameter& p : model->parameters()) p.tensor.data()[0] = rng.uniform(-1.0f, 1.0f);
  for (const NamedTensor& b : model->buffers()) b.tensor.data()[0] = rng.uniform(0.5f, 1.5f);
  // Written as the old ResNet named its layers: stem.0/1, stages.<k-1> for layer<k>.
  Checkpoint c;
  c.config = to_json(config).dump();
  auto starts = [](const std::string& name, const std::string& prefix) {
    return name.rfind(prefix, 0) == 0;
  };
  for (NamedTensor& t : state_dict(*model)) {
    std::string name = t.name;
    if (starts(name, "conv1.")) name = "stem.0." + name.substr(6);
    if (starts(name, "bn1.")) name = "stem.1." + name.substr(4);
    if (starts(name, "layer")) name = "stages." + std::to_string(name[5] - '1') + name.substr(6);
    c.tensors.push_back({"model." + name, t.tensor});
  }
  REQUIRE(c.has_tensor("model.stem.0.weight"));
  REQUIRE(c.has_tensor("model.stages.2.2.conv1.weight"));
  REQUIRE(c.has_tensor("model.stages.0.0.bn1.running_var"));
  REQUIRE(c.has_tensor("model.fc.bias"));
  const std::string text =
      R"({"epochs_done": 1, "steps_done": 1, "best_val_accuracy": -1, "best_epoch": 0,
                                "train_seconds": 0, "train_images": 0, "history": []})";
  c.blobs.push_back({"progress", std::vector<uint8_t>(text.begin(), text.end())});
  const std::string path = (root.dir("ckpt") / "old.ckpt").string();
  save_checkpoint(path, c);
  check_same_state(*model, *load_trained_model(path).model);

  // Neither today's names nor the old ones (here: every layer under a prefix of its own).
  for (NamedTensor& t : c.tensors) t.name = "model.net." + t.name.substr(6);
  save_checkpoint(path, c);
  CHECK_THROWS_WITH(
      load_trained_model(path),
      Catch::Contains("'conv1.weight' (the model does not match)") &&
          Catch::Contains("neither the model's layer names nor those of older checkpoints") &&
          Catch::Contains("'conv1.weight', formerly 'stem.0.weight'"));
}
