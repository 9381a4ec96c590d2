// Building the pieces of a run from its configuration: the model for a data set, the
// optimizers, the learning-rate schedule and the data loaders. lowbit-train, lowbit-eval
// and the later tools share these so that a checkpoint always rebuilds the same model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/train/train_config.h"
#include "apps/train/training_checkpoint.h"
#include "data/augment.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "layers/module.h"
#include "models/model_options.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace lowbit {

ModelOptions model_options(const TrainConfig& config, const DatasetInfo& info);
// The model of config.model for the data set (an imported ONNX graph for "onnx",
// apps/train/imported_model.h), initialized from Rng(config.seed), with every BN's
// scale and shift multiplied by config.bn_scale_init (resolved).
std::shared_ptr<Module> build_model(const TrainConfig& config, const DatasetInfo& info);
// A model saved by lowbit-train, rebuilt from the checkpoint's configuration and loaded
// for evaluation (grid weights decoded from their states; no optimizer state).
struct TrainedModel {
  TrainConfig config;
  RunProgress progress;
  std::shared_ptr<Module> model;
};
TrainedModel load_trained_model(const std::string& checkpoint);
// --init-from: copies every parameter and buffer of the checkpoint config.init_from (same model
// and data set, names and shapes checked) into `model`, which must not have optimizers yet (DST
// projects the copied weights when it is built). When the source had ReLU activations and this
// run's are quantized, the BNs are then scaled by config.bn_scale_init. Returns a line to print.
std::string initialize_from_checkpoint(Module& model, const TrainConfig& config);
// --teacher: the trained model of config.teacher (same data set), in evaluation mode.
std::shared_ptr<Module> load_teacher(const TrainConfig& config);
// Adam or SGD over every parameter of the model, as configured: grid weights to DST, and with
// --no-decay-norm-bias the biases and BN parameters to a second optimizer without weight decay.
std::vector<std::unique_ptr<Optimizer>> build_optimizers(const TrainConfig& config,
                                                         const Module& model);
// The configured schedule in steps, for `steps_per_epoch` batches an epoch.
ScheduleConfig build_schedule(const TrainConfig& config, int64_t steps_per_epoch);
Normalization normalization(const DatasetInfo& info);
// The run's data set as its model sees it: dataset_info(config.dataset), with the input
// normalization of an imported model (config.input_mean / input_std) where it has its own. Throws
// when they do not give one value per channel.
DatasetInfo run_dataset_info(const TrainConfig& config);
// Throws unless test-time flip averaging suits the data set: one trained on mirror images.
void check_tta_flip_allowed(const std::string& dataset);
// A loader for evaluation: the data set in order, no augmentation.
std::unique_ptr<BatchLoader> make_eval_loader(const Dataset& data, int64_t batch_size,
                                              const DatasetInfo& info);

}  // namespace lowbit
