// Model, optimizer and schedule construction from a TrainConfig.
#include "apps/train/run_setup.h"

#include "apps/train/imported_model.h"
#include "core/check.h"
#include "layers/state_dict.h"
#include "models/activation_choice.h"
#include "models/model_zoo.h"
#include "models/resnet.h"
#include "models/transforms/bn_scaling.h"
#include "models/transforms/weight_grid.h"
#include "optim/adam.h"
#include "optim/dst_optimizer.h"
#include "optim/sgd.h"

namespace lowbit {

ModelOptions model_options(const TrainConfig& config, const DatasetInfo& info) {
  ModelOptions o{info.channels, info.num_classes, info.side, config.width_multiplier,
                 ActivationSpec{}};
  o.activation.kind = parse_activation_kind(config.act);
  o.activation.bits = config.act_bits;
  o.activation.q2 = config.act_q2;
  o.activation.backward = parse_pow2_backward(config.act_backward);
  o.activation.scale = parse_pow2_scale(config.act_scale);
  LOWBIT_CHECK(config.residual_act == "after-sum" || config.residual_act == "branch-input",
               "residual_act ", config.residual_act, ": expected after-sum or branch-input");
  o.activation.residual = config.residual_act == "branch-input"
                              ? ActivationSpec::Residual::kBranchInput
                              : ActivationSpec::Residual::kAfterSum;
  return o;
}

namespace {

// How many of the model's residual blocks apply their activation at the branch's input.
int64_t blocks_with_input_activation(const Module& m) {
  const auto* block = dynamic_cast<const ResidualBlock*>(&m);
  int64_t n = block && !block->input_activation().empty() ? 1 : 0;
  for (const auto& entry : m.children()) n += blocks_with_input_activation(*entry.second);
  return n;
}

// config.bn_scale_init, resolved when it was left at -1.
float bn_scale_of(const TrainConfig& config) {
  LOWBIT_CHECK(config.bn_scale_init > 0 || config.bn_scale_init == -1, "--bn-scale-init ",
               config.bn_scale_init, ": expected a positive factor, or -1 for the default");
  return config.bn_scale_init < 0 ? config.default_bn_scale_init() : config.bn_scale_init;
}

}  // namespace

std::shared_ptr<Module> build_model(const TrainConfig& config, const DatasetInfo& info) {
  Rng rng(config.seed);
  std::shared_ptr<Module> model = config.model == kImportedModel
                                      ? build_imported_model(config, info)
                                      : make_model(config.model, model_options(config, info), rng);
  if (config.zero_init_residual) {
    // Named as the setting, not the flag: a checkpoint's configuration comes here too.
    LOWBIT_CHECK(zero_init_residual(*model) > 0,
                 "zero_init_residual (--zero-init-residual) is set, but ", config.model,
                 " has no residual blocks; expected a ResNet (resnet18/20/34/50/56)");
  }
  if (config.residual_act == "branch-input") {
    LOWBIT_CHECK(blocks_with_input_activation(*model) > 0,
                 "residual_act (--residual-act) is branch-input, but ", config.model,
                 " has no residual blocks that end in an activation; expected a ResNet "
                 "(resnet18/20/34/50/56)");
  }
  const float bn_scale = bn_scale_of(config);
  if (bn_scale != 1.0f) scale_batch_norms(*model, bn_scale);
  if (config.weights == "pow2") {
    const std::vector<Parameter> grid =
        grid_weight_parameters(*model, config.quantize_first, config.quantize_last);
    use_exact_sums(*model, grid);
    use_wide_sums(*model, grid);
  }
  return model;
}

namespace {

// load_trained_model, with the flag that named the file in front of any error.
TrainedModel load_named_model(const char* flag, const std::string& path) {
  try {
    return load_trained_model(path);
  } catch (const Error& e) {
    throw Error(concat(flag, " ", e.what()));
  }
}

}  // namespace

std::string initialize_from_checkpoint(Module& model, const TrainConfig& config) {
  const TrainedModel source = load_named_model("--init-from", config.init_from);
  LOWBIT_CHECK(source.config.model == config.model && source.config.dataset == config.dataset,
               "--init-from ", config.init_from, ": holds ", source.config.model, " on ",
               source.config.dataset, ", expected ", config.model, " on ", config.dataset);
  try {
    load_state_dict(model, state_dict(*source.model));
  } catch (const Error& e) {
    throw Error(concat(
        "--init-from ", config.init_from, ": ", e.what(),
        " (the checkpoint's model differs from this run's: same --act and --width-multiplier?)"));
  }
  // A float-activation source's BN outputs have unit scale: bring them to the levels as a fresh
  // model's are. A source with quantized activations has already fitted its BN to them.
  const float bn_scale = bn_scale_of(config);
  const bool rescale = source.config.act == "relu" && config.act != "relu" && bn_scale != 1.0f;
  if (rescale) scale_batch_norms(model, bn_scale);
  return concat("initialized from ", config.init_from, " (", source.config.model, ", ",
                source.config.weights, " weights, ", source.config.act, " activations, epoch ",
                source.progress.epochs_done, ")",
                rescale ? concat("; BN scaled by ", bn_scale) : std::string());
}

std::shared_ptr<Module> load_teacher(const TrainConfig& config) {
  TrainedModel teacher = load_named_model("--teacher", config.teacher);
  LOWBIT_CHECK(teacher.config.dataset == config.dataset, "--teacher ", config.teacher,
               ": trained on ", teacher.config.dataset, ", expected ", config.dataset);
  teacher.model->eval();
  return teacher.model;
}

TrainedModel load_trained_model(const std::string& checkpoint) {
  LoadedRun run = read_training_checkpoint(checkpoint);
  TrainedModel t{std::move(run.config), std::move(run.progress), nullptr};
  t.config.onnx_graph = run.onnx_graph;
  try {
    t.model = build_model(t.config, dataset_info(t.config.dataset));
  } catch (const std::exception& e) {  // a stored value no flag could have given
    throw Error(
        concat(checkpoint, ": cannot rebuild the model of its configuration (", e.what(), ")"));
  }
  restore_training_checkpoint(checkpoint, *t.model, {}, false, t.config.weight_min_exp);
  return t;
}

namespace {

BaseOptimizerOptions base_options(const TrainConfig& config) {
  if (config.optimizer == "adam") {
    AdamOptions o;
    o.lr = config.lr;
    o.weight_decay = config.weight_decay;
    return BaseOptimizerOptions::with_adam(o);
  }
  LOWBIT_CHECK(config.optimizer == "sgd", "unknown optimizer '", config.optimizer,
               "'; expected adam or sgd");
  SgdOptions o;
  o.lr = config.lr;
  o.momentum = config.momentum;
  o.weight_decay = config.weight_decay;
  o.nesterov = config.nesterov;
  return BaseOptimizerOptions::with_sgd(o);
}

std::unique_ptr<Optimizer> float_optimizer(std::vector<Parameter> params,
                                           const BaseOptimizerOptions& base) {
  if (base.kind == BaseOptimizerOptions::Kind::kAdam)
    return std::make_unique<Adam>(std::move(params), base.adam);
  return std::make_unique<Sgd>(std::move(params), base.sgd);
}

// The float parameters' optimizers, appended to `out`: one for all of them, or (with
// --no-decay-norm-bias and a weight decay) one with decay for the convolution and linear
// weights and one without for biases and BN scales and shifts, the usual parameter groups
// of torch.optim users (decaying a BN scale only shrinks it toward the next layer's scale).
void add_float_optimizers(std::vector<Parameter> params, const BaseOptimizerOptions& base,
                          bool decay_norm_bias, std::vector<std::unique_ptr<Optimizer>>& out) {
  if (params.empty()) return;
  const float decay = base.kind == BaseOptimizerOptions::Kind::kAdam ? base.adam.weight_decay
                                                                     : base.sgd.weight_decay;
  if (decay_norm_bias || decay == 0) {
    out.push_back(float_optimizer(std::move(params), base));
    return;
  }
  std::vector<Parameter> decayed, undecayed;
  for (Parameter& p : params)
    (p.role == ParamRole::kWeight ? decayed : undecayed).push_back(std::move(p));
  BaseOptimizerOptions plain = base;
  plain.adam.weight_decay = 0;
  plain.sgd.weight_decay = 0;
  if (!decayed.empty()) out.push_back(float_optimizer(std::move(decayed), base));
  if (!undecayed.empty()) out.push_back(float_optimizer(std::move(undecayed), plain));
}

}  // namespace

std::vector<std::unique_ptr<Optimizer>> build_optimizers(const TrainConfig& config,
                                                         const Module& model) {
  const BaseOptimizerOptions base = base_options(config);
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  if (config.weights == "float") {
    add_float_optimizers(model.parameters(), base, config.decay_norm_bias, optimizers);
    return optimizers;
  }
  LOWBIT_CHECK(config.weights == "pow2", "unknown weight kind '", config.weights,
               "'; expected float or pow2");
  // Grid weights to DST (no float shadow copy), everything else (BN, biases, float layers)
  // to the base optimizer, as the paper trains them.
  std::vector<Parameter> grid =
      grid_weight_parameters(model, config.quantize_first, config.quantize_last);
  LOWBIT_CHECK(!grid.empty(), "--weights pow2: ", config.model,
               " has no weight left to quantize with these ",
               "--quantize-first/--quantize-last settings");
  std::vector<Parameter> rest = other_parameters(model, grid);
  DstSpec spec;
  spec.min_exp = config.weight_min_exp;
  spec.th = config.dst_th;
  LOWBIT_CHECK(config.grid_init == "fitted" || config.grid_init == "nearest",
               "unknown grid initialization '", config.grid_init, "'; expected fitted or nearest");
  const GridInit init = config.grid_init == "nearest" ? GridInit::kNearest : GridInit::kFittedScale;
  optimizers.push_back(
      std::make_unique<DstOptimizer>(std::move(grid), spec, base, config.seed, init));
  add_float_optimizers(std::move(rest), base, config.decay_norm_bias, optimizers);
  return optimizers;
}

ScheduleConfig build_schedule(const TrainConfig& config, int64_t steps_per_epoch) {
  ScheduleConfig s;
  s.kind = parse_schedule_kind(config.schedule);
  s.warmup_steps = static_cast<int64_t>(config.warmup_epochs) * steps_per_epoch;
  const int64_t total = static_cast<int64_t>(config.epochs) * steps_per_epoch;
  LOWBIT_CHECK(s.warmup_steps < total, "--warmup-epochs ", config.warmup_epochs,
               " must be below --epochs ", config.epochs);
  s.total_steps = total - s.warmup_steps;
  s.step_size = static_cast<int64_t>(config.step_epochs) * steps_per_epoch;
  s.gamma = config.step_gamma;
  s.t0 = static_cast<int64_t>(config.restart_epochs) * steps_per_epoch;
  s.t_mult = config.restart_mult;
  s.reset_state_on_restart = config.reset_on_restart;
  validate(s);
  return s;
}

Normalization normalization(const DatasetInfo& info) {
  return Normalization{info.mean, info.stddev};
}

DatasetInfo run_dataset_info(const TrainConfig& config) {
  DatasetInfo info = dataset_info(config.dataset);
  const auto check = [&info](const std::vector<float>& values, const char* what) {
    LOWBIT_CHECK(values.empty() || static_cast<int64_t>(values.size()) == info.channels,
                 "the input ", what, " has ", values.size(), " values; expected one per channel (",
                 info.channels, " for ", info.name, ")");
  };
  check(config.input_mean, "mean");
  check(config.input_std, "std");
  if (!config.input_mean.empty()) info.mean = config.input_mean;
  if (!config.input_std.empty()) info.stddev = config.input_std;
  return info;
}

std::unique_ptr<BatchLoader> make_eval_loader(const Dataset& data, int64_t batch_size,
                                              const DatasetInfo& info) {
  BatchLoaderOptions o;
  o.batch_size = batch_size;
  return std::make_unique<BatchLoader>(data, normalization(info), o);
}

void check_tta_flip_allowed(const std::string& dataset) {
  LOWBIT_CHECK(
      dataset_info(dataset).horizontal_flip, "--tta-flip: ", dataset,
      " is not trained on mirror images (digits change meaning when mirrored); expected cifar10");
}

}  // namespace lowbit
