// TrainConfig: every setting of a lowbit-train run, declared once for the command line
// (CLI11) and saved with the run as JSON, so that parsing, --help and the saved
// configuration never drift apart.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace lowbit {

struct TrainConfig {
  std::string model = "resnet18";
  std::string dataset = "cifar10";
  std::string data_dir;  // empty: $LOWBIT_DATA/<dataset>, then ./data/<dataset>
  int epochs = 30;
  int batch_size = 128;
  std::string optimizer = "adam";  // adam | sgd
  float lr = -1;                   // < 0: 1e-3 for Adam, 0.1 for SGD
  float momentum = 0.9f;
  float weight_decay = -1;      // < 0: 0 for Adam, 5e-4 for SGD
  bool decay_norm_bias = true;  // false: biases and BN scales/shifts train without weight decay
  bool nesterov = false;
  float label_smoothing = 0;
  std::string schedule = "cosine";  // cosine | cosine-restarts | step | constant | linear
  int warmup_epochs = 0;
  int restart_epochs = 10;  // T0 of cosine-restarts, in epochs
  int restart_mult = 2;     // Tmult of cosine-restarts
  bool reset_on_restart = false;
  int step_epochs = 30;  // step schedule: decay every N epochs
  float step_gamma = 0.1f;
  float width_multiplier = 1.0f;
  bool zero_init_residual =
      false;  // ResNets: each block's last BN scale starts at 0 (models/resnet.h)
  bool augment = true;
  // Random crops: offsets drawn from [-N, N] on the zero-padded image. < 0: the data set's own
  // (4 for CIFAR-10 and SVHN, 0 for the digit sets, whose crops were never part of their recipe).
  int crop_padding = -1;
  std::string flip =
      "random";  // random | alternate (data/augment.h), for data sets that flip (cifar10)
  // Validation and test logits averaged over each image and its mirror image
  // (apps/train/evaluate.h).
  bool tta_flip = false;
  // Data-parallel runs (mpirun): batch norm normalizes with the statistics of the whole batch,
  // summed over the ranks in the forward pass, and sums their gradients in the backward pass
  // (layers/batch_norm.h); without it each rank uses its own shard's statistics, as PyTorch's
  // DistributedDataParallel does. Changes nothing in one process.
  bool sync_bn = false;
  int threads = 0;  // 0: one per core
  uint64_t seed = 0;
  int val_split = 5000;
  int train_subset = 0;  // 0: the whole training set
  std::string out;       // empty: runs/<model>-<dataset>
  // The recipe (apps/train/recipes.h) whose values this run took for every flag not given; empty
  // until lowbit-train resolves it (runs saved before recipes existed have none).
  std::string recipe;

  // Quantization (Long et al. 2020): weights on the power-of-two grid {0, ±2^p, ..., ±1}
  // trained by discrete state transition, and activations to zero or powers of two.
  std::string weights = "float";  // float | pow2
  int weight_min_exp = -3;        // p, the smallest non-zero magnitude 2^p
  float dst_th = 0.5f;            // eq. 14's th
  // How the initial float weights reach the grid (optim/dst_optimizer.h GridInit): "fitted"
  // scales each tensor to the grid first; "nearest" projects He et al.'s values as they are, which
  // leaves wide layers (small initial weights) almost all zero.
  std::string grid_init = "fitted";
  std::string act = "relu";  // relu | pow2 | relu-pow2
  int act_bits = 3;
  float act_q2 = 0.125f;
  // The quantized activation's backward proxy (layers/quant/pow2_activation.h Pow2Backward):
  // "clipped", the clipped straight-through estimator, or "eq7", the paper's. Runs saved before the
  // option existed used eq. 7.
  std::string act_backward = "clipped";
  // The quantized activation's levels: "fixed" (the paper's), or times a factor trained per layer
  // with LSQ's gradient, "trained", or that factor rounded to a power of two, "trained-pow2"
  // (layers/quant/pow2_activation.h Pow2Scale).
  std::string act_scale = "fixed";
  // Where a residual block's last activation sits (models/model_options.h
  // ActivationSpec::Residual): "after-sum" (the published ResNets, the paper) or "branch-input"
  // (the sum passed on as it is).
  std::string residual_act = "after-sum";
  // Every BN's scale and shift start multiplied by this (models/transforms/bn_scaling.h). < 0:
  // resolved to act_q2 / pow2_activation_best_q2(act_bits) when the activation is quantized (the
  // scale at which a unit-variance BN output fits the levels best: 0.148 for 3 bits and q2 = 1/8),
  // 1 otherwise.
  float bn_scale_init = -1;
  // Start from the weights, BN parameters and statistics of this lowbit-train checkpoint (same
  // model and data set); grid weights come from them by the fitted-scale projection.
  std::string init_from;
  // Distillation from a trained model's logits (Hinton et al. 2015): the loss becomes
  // (1 - w) CE + w T^2 KL(teacher || student) at temperature T. Empty: no teacher.
  std::string teacher;
  float distill_weight = 0.7f;
  float distill_temperature = 4.0f;
  bool quantize_first = false;  // the paper keeps the first layer in float
  bool quantize_last = true;
  // Batch-norm statistics re-estimated from this many training images after every epoch, before
  // validation (apps/train/bn_recalibration.h). < 0: 5120 when weights or activations are quantized
  // (their running averages lag the jumping grid weights), 0 otherwise.
  int recalibrate_bn = -1;

  // An imported model (lowbit-import, model "onnx"): the input normalization it was trained with,
  // per channel on pixels in [0, 1], when it differs from the data set's (empty: the data set's).
  std::vector<float> input_mean, input_std;
  // model "onnx": the bytes of the ONNX file the graph was imported from. Checkpoints keep them as
  // the blob "graph.onnx" (apps/train/imported_model.h), outside the JSON.
  std::shared_ptr<const std::string> onnx_graph;

  // Defaults that depend on other settings (learning rate, weight decay, out directory, BN scale).
  void resolve();
  // What bn_scale_init < 0 stands for: act_q2 / pow2_activation_best_q2(act_bits), or 1 with relu.
  float default_bn_scale_init() const;
};

// Declares every training flag on `app`, bound to `config`.
void add_train_flags(CLI::App& app, TrainConfig& config);

// The config.json key a training flag sets ("--batch-size" -> "batch_size", "--no-augment" ->
// "augment").
std::string train_flag_key(const CLI::Option& option);

// The config.json keys of the training flags given on `app`'s command line.
std::set<std::string> given_train_flags(const CLI::App& app);

nlohmann::json to_json(const TrainConfig& config);
// Keys absent from j keep what runs saved before they existed did; "model" and "dataset" are
// required. j not an object, a value of the wrong type ("key <where>/augment: type must be boolean,
// but is number"; where: j's JSON pointer), a value its flag refuses
// (apps/common/stored_settings.h: "key <where>/weights: resnet20 is refused by --weights (...)") or
// a model lowbit does not have: lowbit::Error.
TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& where = "");

}  // namespace lowbit
