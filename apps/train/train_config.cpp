// Flag declarations and JSON conversion of TrainConfig.
#include "apps/train/train_config.h"

#include <algorithm>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/common/json_error.h"
#include "apps/common/stored_settings.h"
#include "apps/train/imported_model.h"
#include "core/check.h"
#include "layers/quant/pow2_activation.h"
#include "models/model_zoo.h"

namespace lowbit {
namespace {

// The range of --width-multiplier, also required of a configuration read back from a checkpoint:
// the model's size grows with its square, and a file must not be able to ask for any size.
constexpr double kMinWidthMultiplier = 0.05, kMaxWidthMultiplier = 4.0;

}  // namespace

void TrainConfig::resolve() {
  // DST needs Adam's rate 10x above its default: a grid weight jumps with probability about
  // th |dw| / L per step, and at 1e-3 the grid barely moves (docs/reproductions.md).
  if (lr < 0) lr = optimizer == "sgd" ? 0.1f : weights == "pow2" ? 1e-2f : 1e-3f;
  if (weight_decay < 0) weight_decay = optimizer == "sgd" ? 5e-4f : 0.0f;
  if (out.empty()) out = "runs/" + model + "-" + dataset;
  if (bn_scale_init < 0) bn_scale_init = default_bn_scale_init();
  if (recalibrate_bn < 0) recalibrate_bn = weights != "float" || act != "relu" ? 5120 : 0;
}

float TrainConfig::default_bn_scale_init() const {
  return act == "relu" ? 1.0f : act_q2 / static_cast<float>(pow2_activation_best_q2(act_bits));
}

void add_train_flags(CLI::App& app, TrainConfig& c) {
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.add_option("--model", c.model, "model name (see --list-models)");
  app.add_option("--dataset", c.dataset, "mnist, fashion-mnist, cifar10 or svhn")
      ->check(CLI::IsMember({"mnist", "fashion-mnist", "cifar10", "svhn"}));
  app.add_option("--data-dir", c.data_dir,
                 "data directory (default: $LOWBIT_DATA/<dataset>, then ./data/<dataset>)");
  app.add_option("--epochs", c.epochs, "training epochs")->check(CLI::Range(1, 100000));
  add_batch_size_flag(app, c.batch_size);
  app.add_option("--optimizer", c.optimizer, "adam or sgd")->check(CLI::IsMember({"adam", "sgd"}));
  app.add_option("--lr", c.lr, "learning rate (default: 1e-3 for adam, 0.1 for sgd)")
      ->check(real_range(0.0, 100.0));
  app.add_option("--momentum", c.momentum, "SGD momentum")->check(real_range(0.0, 0.9999));
  app.add_flag("--nesterov", c.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--weight-decay", c.weight_decay,
                 "L2 weight decay (default: 0 for adam, 5e-4 for sgd)")
      ->check(real_range(0.0, 1.0));
  app.add_flag(
      "--decay-norm-bias,!--no-decay-norm-bias", c.decay_norm_bias,
      "apply the weight decay to biases and BN scales/shifts too (default: yes, as torch.optim)");
  app.add_option("--label-smoothing", c.label_smoothing, "label smoothing of the cross-entropy")
      ->check(real_range(0.0, 0.999));
  app.add_option(
         "--schedule", c.schedule,
         "learning-rate schedule: cosine, cosine-restarts, step, constant, linear (decay to 0)")
      ->check(CLI::IsMember({"cosine", "cosine-restarts", "step", "constant", "linear"}));
  app.add_option("--warmup-epochs", c.warmup_epochs, "epochs of linear warm-up")
      ->check(CLI::Range(0, 100000));
  app.add_option("--restart-epochs", c.restart_epochs, "cosine-restarts: first period T0 in epochs")
      ->check(CLI::Range(1, 100000));
  app.add_option("--restart-mult", c.restart_mult, "cosine-restarts: period multiplier Tmult")
      ->check(CLI::Range(1, 100));
  app.add_flag("--reset-on-restart", c.reset_on_restart,
               "cosine-restarts: reset the optimizer state at each restart");
  app.add_option("--step-epochs", c.step_epochs, "step schedule: epochs between decays")
      ->check(CLI::Range(1, 100000));
  app.add_option("--step-gamma", c.step_gamma, "step schedule: decay factor")
      ->check(real_range(0.0, 1.0));
  app.add_option("--width-multiplier", c.width_multiplier, "mobilenetv2 width multiplier")
      ->check(real_range(kMinWidthMultiplier, kMaxWidthMultiplier));
  app.add_flag("--zero-init-residual", c.zero_init_residual,
               "ResNets: start the last BN scale of every residual branch at 0, so that each block "
               "begins as its "
               "shortcut (torchvision's zero_init_residual)");
  app.add_option("--flip", c.flip,
                 "horizontal flips (cifar10): random (a coin per image and epoch) or alternate "
                 "(one coin per image, "
                 "reversed every other epoch)")
      ->check(CLI::IsMember({"random", "alternate"}));
  app.add_flag("--tta-flip", c.tta_flip,
               "test-time augmentation (cifar10): validate and test on the mean of each image's "
               "and its mirror "
               "image's logits");
  app.add_flag("--sync-bn", c.sync_bn,
               "data-parallel runs (mpirun): batch norm uses the statistics of the whole batch, "
               "over every rank, instead of each rank's shard");
  app.add_flag("!--no-augment", c.augment, "disable random crops and flips");
  app.add_option("--crop-padding", c.crop_padding,
                 "random crops shift the image by up to N pixels (-1: the data set's, 4 for "
                 "cifar10 and svhn, 0 for "
                 "mnist and fashion-mnist)")
      ->check(CLI::Range(-1, 16));
  add_threads_flag(app, c.threads);
  app.add_option("--seed", c.seed, "random seed");
  app.add_option("--val-split", c.val_split, "training images held out for validation")
      ->check(CLI::Range(0, 10000000));
  app.add_option("--train-subset", c.train_subset, "use only the first N training images (0: all)")
      ->check(CLI::Range(0, 100000000));
  app.add_option("--out", c.out, "run directory (default: runs/<model>-<dataset>)");
  app.add_option("--recipe", c.recipe,
                 "take every setting not given as a flag from this recipe (default: the model's "
                 "and data set's; "
                 "see --list-recipes)");
  app.add_option("--weights", c.weights,
                 "float, or pow2: weights on the power-of-two grid trained by DST")
      ->check(CLI::IsMember({"float", "pow2"}));
  app.add_option("--weight-min-exp", c.weight_min_exp,
                 "pow2 weights: smallest magnitude 2^P (P in -6..-1)")
      ->check(CLI::Range(-6, -1));
  app.add_option("--dst-th", c.dst_th, "pow2 weights: DST transition slope th (eq. 14)")
      ->check(real_range(0.0, 100.0));
  app.add_option("--grid-init", c.grid_init,
                 "pow2 weights: fitted (scale each tensor to the grid, then project; default) or "
                 "nearest (project the "
                 "float initialization as it is)")
      ->check(CLI::IsMember({"fitted", "nearest"}));
  app.add_option("--act", c.act,
                 "activation: relu, pow2 (zero or powers of two, signed), relu-pow2 (unsigned)")
      ->check(CLI::IsMember({"relu", "pow2", "relu-pow2"}));
  app.add_option("--act-bits", c.act_bits, "quantized activations: bits")->check(CLI::Range(2, 8));
  app.add_option("--act-q2", c.act_q2, "quantized activations: the smallest level q2")
      ->check(real_range(1e-6, 100.0));
  app.add_option("--act-backward", c.act_backward,
                 "quantized activations' backward: clipped (straight-through, 1 up to the top "
                 "level, 0 beyond) "
                 "or eq7 (the paper's)")
      ->check(CLI::IsMember({"clipped", "eq7"}));
  app.add_option("--act-scale", c.act_scale,
                 "quantized activations' levels: fixed, trained (times a factor trained per layer, "
                 "LSQ's gradient) or "
                 "trained-pow2 (that factor rounded to a power of two)")
      ->check(CLI::IsMember({"fixed", "trained", "trained-pow2"}));
  app.add_option("--residual-act", c.residual_act,
                 "ResNets: the block's last activation after-sum (the published networks, the "
                 "paper) or at the branch-input, the sum passed on unquantized")
      ->check(CLI::IsMember({"after-sum", "branch-input"}));
  app.add_option("--bn-scale-init", c.bn_scale_init,
                 "every BN scale and shift starts multiplied by this (-1: q2 / best q2 for a unit "
                 "normal with a "
                 "quantized activation, so that BN outputs fit the levels; 1 with relu)")
      ->check(real_range(-1.0, 100.0));
  app.add_option("--init-from", c.init_from,
                 "start from this lowbit-train checkpoint of the same model and data set (a "
                 "trained float model: "
                 "grid weights by fitted-scale projection, BN scaled by --bn-scale-init when its "
                 "activations were relu)");
  app.add_option("--teacher", c.teacher,
                 "distill from this checkpoint's logits (any model of the same data set)");
  app.add_option("--distill-weight", c.distill_weight,
                 "with --teacher: loss = (1 - w) cross-entropy + w T^2 KL(teacher || student)")
      ->check(real_range(0.0, 1.0));
  app.add_option("--distill-temperature", c.distill_temperature,
                 "with --teacher: the softening temperature T")
      ->check(real_range(0.01, 100.0));
  app.add_flag(
      "--quantize-first,!--no-quantize-first", c.quantize_first,
      "put the first layer's weights on the grid too (default: kept in float, as the paper)");
  app.add_flag("--quantize-last,!--no-quantize-last", c.quantize_last,
               "put the last layer's weights on the grid (default: yes)");
  app.add_option("--recalibrate-bn", c.recalibrate_bn,
                 "after every epoch, re-estimate the batch-norm statistics from N training images "
                 "before validation "
                 "(-1, the default: 5120 with quantized weights or activations, else 0)")
      ->check(CLI::Range(-1, 100000000));
}

std::string train_flag_key(const CLI::Option& option) {
  std::string key = option.get_name();
  key.erase(0, key.find_first_not_of('-'));
  std::replace(key.begin(), key.end(), '-', '_');
  return key == "no_augment" ? "augment" : key;
}

std::set<std::string> given_train_flags(const CLI::App& app) {
  std::set<std::string> given;
  for (const CLI::Option* option : app.get_options())
    if (option->count() > 0) given.insert(train_flag_key(*option));
  return given;
}

nlohmann::json to_json(const TrainConfig& c) {
  return {{"model", c.model},
          {"dataset", c.dataset},
          {"data_dir", c.data_dir},
          {"epochs", c.epochs},
          {"batch_size", c.batch_size},
          {"optimizer", c.optimizer},
          {"lr", c.lr},
          {"momentum", c.momentum},
          {"weight_decay", c.weight_decay},
          {"decay_norm_bias", c.decay_norm_bias},
          {"nesterov", c.nesterov},
          {"label_smoothing", c.label_smoothing},
          {"schedule", c.schedule},
          {"warmup_epochs", c.warmup_epochs},
          {"restart_epochs", c.restart_epochs},
          {"restart_mult", c.restart_mult},
          {"reset_on_restart", c.reset_on_restart},
          {"step_epochs", c.step_epochs},
          {"step_gamma", c.step_gamma},
          {"width_multiplier", c.width_multiplier},
          {"augment", c.augment},
          {"crop_padding", c.crop_padding},
          {"threads", c.threads},
          {"seed", c.seed},
          {"val_split", c.val_split},
          {"train_subset", c.train_subset},
          {"out", c.out},
          {"recipe", c.recipe},
          {"weights", c.weights},
          {"weight_min_exp", c.weight_min_exp},
          {"dst_th", c.dst_th},
          {"grid_init", c.grid_init},
          {"zero_init_residual", c.zero_init_residual},
          {"flip", c.flip},
          {"tta_flip", c.tta_flip},
          {"sync_bn", c.sync_bn},
          {"act", c.act},
          {"act_bits", c.act_bits},
          {"act_q2", c.act_q2},
          {"act_backward", c.act_backward},
          {"act_scale", c.act_scale},
          {"residual_act", c.residual_act},
          {"bn_scale_init", c.bn_scale_init},
          {"init_from", c.init_from},
          {"teacher", c.teacher},
          {"distill_weight", c.distill_weight},
          {"distill_temperature", c.distill_temperature},
          {"quantize_first", c.quantize_first},
          {"quantize_last", c.quantize_last},
          {"recalibrate_bn", c.recalibrate_bn},
          {"input_mean", c.input_mean},
          {"input_std", c.input_std}};
}

TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& where) {
  // Not an object, every key would be absent and the run silently the defaults'.
  LOWBIT_CHECK(j.is_object(), where.empty() ? "" : "key " + where + ": ", "a JSON ", j.type_name(),
               ", expected an object of settings");
  // Every run ever saved names its model and data set: without them the run would silently be the
  // defaults'.
  for (const char* key : {"model", "dataset"})
    LOWBIT_CHECK(j.contains(key), "key ", where, "/", key, " missing, expected the run's ", key);
  TrainConfig c;
  auto get = [&j, &where](const char* key, auto& field) {
    if (j.contains(key)) read_json_key(j, key, field, where);
  };
  get("model", c.model);
  get("dataset", c.dataset);
  get("data_dir", c.data_dir);
  get("epochs", c.epochs);
  get("batch_size", c.batch_size);
  get("optimizer", c.optimizer);
  get("lr", c.lr);
  get("momentum", c.momentum);
  get("weight_decay", c.weight_decay);
  get("decay_norm_bias", c.decay_norm_bias);
  get("nesterov", c.nesterov);
  get("label_smoothing", c.label_smoothing);
  get("schedule", c.schedule);
  get("warmup_epochs", c.warmup_epochs);
  get("restart_epochs", c.restart_epochs);
  get("restart_mult", c.restart_mult);
  get("reset_on_restart", c.reset_on_restart);
  get("step_epochs", c.step_epochs);
  get("step_gamma", c.step_gamma);
  get("width_multiplier", c.width_multiplier);
  get("augment", c.augment);
  get("crop_padding", c.crop_padding);
  get("threads", c.threads);
  get("seed", c.seed);
  get("val_split", c.val_split);
  get("train_subset", c.train_subset);
  get("out", c.out);
  get("recipe", c.recipe);
  get("weights", c.weights);
  get("weight_min_exp", c.weight_min_exp);
  get("dst_th", c.dst_th);
  get("grid_init", c.grid_init);
  get("zero_init_residual", c.zero_init_residual);
  // Options absent from runs saved before they existed keep their defaults, which are what
  // those runs did (random flips, no test-time flips, fitted grid, no zero-init).
  get("flip", c.flip);
  get("tta_flip", c.tta_flip);
  get("sync_bn", c.sync_bn);
  get("act", c.act);
  get("act_bits", c.act_bits);
  get("act_q2", c.act_q2);
  // Runs saved before these options existed used eq. 7, BN as initialized, no teacher.
  c.act_backward = "eq7";
  c.bn_scale_init = 1.0f;
  get("act_backward", c.act_backward);
  get("act_scale", c.act_scale);
  get("residual_act", c.residual_act);
  get("bn_scale_init", c.bn_scale_init);
  get("init_from", c.init_from);
  get("teacher", c.teacher);
  get("distill_weight", c.distill_weight);
  get("distill_temperature", c.distill_temperature);
  get("quantize_first", c.quantize_first);
  get("quantize_last", c.quantize_last);
  // Runs saved before the option existed did not re-estimate.
  c.recalibrate_bn = 0;
  get("recalibrate_bn", c.recalibrate_bn);
  get("input_mean", c.input_mean);
  get("input_std", c.input_std);
  // The types are right; now the values, through the very checks of the flags that set them.
  TrainConfig scratch;
  CLI::App flags;
  add_train_flags(flags, scratch);
  nlohmann::json defaults = to_json(scratch);
  // lowbit-import writes 0 epochs: the network was trained elsewhere.
  if (c.model == kImportedModel) defaults["epochs"] = 0;
  check_stored_settings(flags, j, defaults, where, train_flag_key);
  if (c.model != kImportedModel) {
    try {
      (void)model_entry(c.model);
    } catch (const Error& e) {
      throw Error(concat("key ", where, "/model: ", e.what()));
    }
  }
  return c;
}

}  // namespace lowbit
