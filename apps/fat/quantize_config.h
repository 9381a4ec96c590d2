// QuantizeConfig: every setting of a lowbit-quantize run (FAT: Goncharenko et al., sections 3-4),
// declared once for the command line and saved with the run and the quantized checkpoint as JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "models/transforms/calibration.h"

namespace lowbit {

struct QuantizeConfig {
  std::string checkpoint;       // a float checkpoint from lowbit-train
  std::string data_dir;         // empty: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>
  std::string out;              // empty: runs/<model>-<dataset>-fat<bits>-<mode>-<thresholds>
  int bits = 8;                 // weights and activations, 2..8
  std::string mode = "vector";  // weight thresholds: scalar (per tensor) | vector (per filter)
  std::string thresholds = "symmetric";  // symmetric (eq. 12-15) | asymmetric (eq. 21-23)
  bool rescale_dws = false;              // section 3.3.1 (MobileNet-v2)
  int calibration_images = 100;          // section 4.1.2
  double data_fraction = 0.1;            // of the training split, for fine-tuning
  int epochs = 6;                        // "6-8 epochs" (section 4.1.2)
  int batch_size = 64;
  float lr = 1e-3f;                  // Adam
  int restart_epochs = 2;            // cosine warm restarts: first period T0
  int restart_mult = 2;              // period multiplier
  bool train_weight_scales = false;  // section 4.2: point-wise factors in [0.75, 1.25]
  int rmse_images = 500;             // held-out images for the logits' RMSE
  int tie_images = 500;              // training images for rounding-tie clearance (0: off)
  int eval_batch_size = 256;
  int threads = 0;  // 0: one per core
  uint64_t seed = 0;
  bool overwrite = false;

  // The quantizer options these settings ask for (activations per tensor, weights by --mode).
  UniformQuantizationOptions quantization() const;
  // Defaults that depend on the trained model: the output directory.
  void resolve(const std::string& model, const std::string& dataset);
};

void add_quantize_flags(CLI::App& app, QuantizeConfig& config);

nlohmann::json to_json(const QuantizeConfig& config);
// A missing key or a value of the wrong type: lowbit::Error naming the key ("key
// <where>/bits: ..."; where: j's JSON pointer).
QuantizeConfig quantize_config_from_json(const nlohmann::json& j, const std::string& where = "");

}  // namespace lowbit
