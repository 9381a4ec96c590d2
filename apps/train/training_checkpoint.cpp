// Training checkpoints on core/checkpoint: tensors "model.<name>" and "optimizer<k>.<name>",
// blobs "rng" (the global generator's 32 bytes), "progress" (JSON text) and each
// optimizer's own blobs "optimizer<k>.<name>". Weights that live on the power-of-two grid
// are held by their DST optimizer as one int8 state per weight (blob "optimizer<k>.dst.<weight>"),
// so the file stores them as states only, never as floats. Files written before layers were named
// by module paths load too (models/legacy_names.h).
#include "apps/train/training_checkpoint.h"

#include <cmath>
#include <cstring>
#include <set>

#include "apps/common/json_error.h"
#include "apps/train/imported_model.h"
#include "core/check.h"
#include "core/checkpoint.h"
#include "core/rng.h"
#include "layers/state_dict.h"
#include "models/legacy_names.h"

namespace lowbit {

// The "progress" blob, both directions from one field list; reading requires every key but
// world_size, which files from before data parallelism lack.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunProgress, epochs_done, steps_done, best_val_accuracy,
                                   best_epoch, train_seconds, train_images, history)

namespace {

std::string optimizer_prefix(size_t k) { return "optimizer" + std::to_string(k) + "."; }

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Names of the parameters whose values an optimizer holds (as grid states).
std::set<std::string> held_parameters(const std::vector<Optimizer*>& optimizers) {
  std::set<std::string> names;
  for (const Optimizer* o : optimizers) {
    if (!o->holds_parameter_values()) continue;
    for (const Parameter& p : o->parameters()) names.insert(p.name);
  }
  return names;
}

// Grid weights without their optimizer (evaluation, reports): the value of state s is s·2^p.
void decode_grid_weights(const Checkpoint& c, Module& model, int min_exp) {
  for (const Parameter& p : model.parameters()) {
    if (c.has_tensor("model." + p.name)) continue;
    const std::string suffix = ".dst." + p.name;
    const NamedBlob* found = nullptr;
    for (const NamedBlob& b : c.blobs) {
      if (b.name.size() > suffix.size() &&
          b.name.compare(b.name.size() - suffix.size(), suffix.size(), suffix) == 0)
        found = &b;
    }
    LOWBIT_CHECK(found != nullptr, "no entry for the weight '", p.name,
                 "' (the model does not match)");
    LOWBIT_CHECK(static_cast<int64_t>(found->bytes.size()) == p.tensor.numel(),
                 "the grid states of '", p.name, "' are ", found->bytes.size(),
                 " bytes, expected one per weight (", p.tensor.numel(), ")");
    float* w = p.tensor.data();
    for (int64_t i = 0; i < p.tensor.numel(); ++i)
      w[i] = std::ldexp(
          static_cast<float>(static_cast<int8_t>(found->bytes[static_cast<size_t>(i)])), min_exp);
  }
}

}  // namespace

void save_training_checkpoint(const std::string& path, const nlohmann::json& config,
                              const Module& model, const std::vector<Optimizer*>& optimizers,
                              const RunProgress& progress,
                              const std::shared_ptr<const std::string>& onnx_graph) {
  Checkpoint c;
  c.config = config.dump();
  const std::set<std::string> held = held_parameters(optimizers);
  for (NamedTensor& t : state_dict(model)) {
    if (held.count(t.name) == 0) c.tensors.push_back({"model." + t.name, t.tensor});
  }
  for (size_t k = 0; k < optimizers.size(); ++k) {
    for (const NamedTensor& s : optimizers[k]->state())
      c.tensors.push_back({optimizer_prefix(k) + s.name, s.tensor});
    for (NamedBlob& b : optimizers[k]->blob_state())
      c.blobs.push_back({optimizer_prefix(k) + b.name, std::move(b.bytes)});
  }
  const Rng::State& rng = global_rng().state();
  NamedBlob rng_blob{"rng", std::vector<uint8_t>(sizeof rng)};
  std::memcpy(rng_blob.bytes.data(), rng.data(), sizeof rng);
  c.blobs.push_back(std::move(rng_blob));
  nlohmann::json progress_json = progress;
  progress_json["world_size"] = progress.world_size;
  const std::string text = progress_json.dump();
  c.blobs.push_back({"progress", std::vector<uint8_t>(text.begin(), text.end())});
  add_onnx_graph_blob(c, onnx_graph);
  save_checkpoint(path, c);
}

LoadedRun read_training_checkpoint(const std::string& path) {
  const Checkpoint c = load_checkpoint(path);
  LoadedRun run;
  const char* part = "configuration";
  try {
    run.config = train_config_from_json(nlohmann::json::parse(c.config));
    part = "progress";
    const NamedBlob& blob = c.blob("progress");
    const nlohmann::json progress = nlohmann::json::parse(blob.bytes.begin(), blob.bytes.end());
    run.progress = read_json_record<RunProgress>(progress);
    // Recorded since data parallelism: older files were written by one process.
    if (progress.is_object() && progress.contains("world_size"))
      read_json_key(progress, "world_size", run.progress.world_size);
    LOWBIT_CHECK(run.progress.world_size >= 1, "key /world_size: ", run.progress.world_size,
                 ", expected at least 1 rank");
  } catch (const nlohmann::json::exception& e) {
    throw Error(
        concat(path, ": not a lowbit-train checkpoint (its ", part, ": ", json_error_text(e), ")"));
  } catch (const Error& e) {
    throw Error(concat(path, ": not a lowbit-train checkpoint (its ", part, ": ", e.what(), ")"));
  }
  run.onnx_graph = onnx_graph_blob(c);
  return run;
}

void restore_training_checkpoint(const std::string& path, Module& model,
                                 const std::vector<Optimizer*>& optimizers, bool restore_rng,
                                 int grid_min_exp) {
  Checkpoint c = load_checkpoint(path);
  // A checkpoint from before module paths names its layers "0", "stem.0", ...: give them today's
  // names.
  const EntryNaming naming = rename_legacy_entries(c, model);
  try {
    // Grid weights come back through their optimizer, or decoded from their states when
    // there is none; every other entry must be in the file.
    std::vector<NamedTensor> model_state;
    for (const NamedTensor& t : c.tensors) {
      if (starts_with(t.name, "model.")) model_state.push_back(t);
    }
    const std::set<std::string> held = held_parameters(optimizers);
    if (optimizers.empty()) decode_grid_weights(c, model, grid_min_exp);
    for (const NamedTensor& live : state_dict(model, "model.")) {
      const bool grid_held =
          held.count(live.name.substr(6)) > 0 || (optimizers.empty() && !c.has_tensor(live.name));
      if (grid_held) model_state.push_back(live);  // placeholders, overwritten below
    }
    load_state_dict(model, model_state, "model.");
    for (size_t k = 0; k < optimizers.size(); ++k) {
      const std::string prefix = optimizer_prefix(k);
      std::vector<NamedTensor> state;
      for (const NamedTensor& t : c.tensors) {
        if (starts_with(t.name, prefix)) state.push_back({t.name.substr(prefix.size()), t.tensor});
      }
      optimizers[k]->load_state(state);
      std::vector<NamedBlob> blobs;
      for (const NamedBlob& b : c.blobs) {
        if (starts_with(b.name, prefix)) blobs.push_back({b.name.substr(prefix.size()), b.bytes});
      }
      optimizers[k]->load_blob_state(blobs);
    }
    if (restore_rng) {
      const NamedBlob& blob = c.blob("rng");
      Rng::State rng;
      LOWBIT_CHECK(blob.bytes.size() == sizeof rng, "the rng entry has ", blob.bytes.size(),
                   " bytes, expected ", sizeof rng);
      std::memcpy(rng.data(), blob.bytes.data(), sizeof rng);
      global_rng().set_state(rng);
    }
  } catch (const Error& e) {
    throw Error(concat(path, ": ", e.what(),
                       naming == EntryNaming::kNeither ? legacy_naming_hint(model) : ""));
  }
}

}  // namespace lowbit
