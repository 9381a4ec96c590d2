// The state of a training run in one checkpoint file: configuration, model (parameters and
// running statistics), every optimizer's state, the global RNG, and the run's progress
// (epochs done, metrics so far, best validation accuracy). Loading it back and going on
// gives the same numbers as a run that was never interrupted.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/train/run_log.h"
#include "apps/train/train_config.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace lowbit {

struct RunProgress {
  int epochs_done = 0;
  int64_t steps_done = 0;
  double best_val_accuracy = -1;  // < 0: none yet
  int best_epoch = 0;
  double train_seconds = 0;  // summed over the epochs done
  int64_t train_images = 0;
  std::vector<EpochMetrics> history;
  // The ranks that trained the last epoch (data parallelism; 1 in one process, and for files
  // written before it was recorded). A resumed run keeps it unless asked to reshard.
  int world_size = 1;
};

// Writes the checkpoint atomically (temporary file, fsync, rename). An imported model's ONNX file
// (TrainConfig::onnx_graph) goes in as the blob "graph.onnx".
void save_training_checkpoint(const std::string& path, const nlohmann::json& config,
                              const Module& model, const std::vector<Optimizer*>& optimizers,
                              const RunProgress& progress,
                              const std::shared_ptr<const std::string>& onnx_graph = nullptr);

struct LoadedRun {
  TrainConfig config;
  RunProgress progress;
  std::shared_ptr<const std::string> onnx_graph;  // null unless the file has one
};

// Reads the configuration and progress only (to rebuild the model before loading it). A value of
// the wrong type, a missing key or text that is not JSON: lowbit::Error naming the file and the
// key.
LoadedRun read_training_checkpoint(const std::string& path);
// Loads the model (and, when given, the optimizers and the global RNG) from the file.
// Without optimizers, weights stored as grid states are decoded with 2^grid_min_exp as the
// unit (the run's --weight-min-exp). Throws lowbit::Error naming the file and the entry
// that does not match.
void restore_training_checkpoint(const std::string& path, Module& model,
                                 const std::vector<Optimizer*>& optimizers, bool restore_rng,
                                 int grid_min_exp = -3);

}  // namespace lowbit
