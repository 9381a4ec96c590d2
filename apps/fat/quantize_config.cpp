// Flag declarations and JSON conversion of QuantizeConfig.
#include "apps/fat/quantize_config.h"

#include <algorithm>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/common/json_error.h"
#include "apps/common/stored_settings.h"

namespace lowbit {

UniformQuantizationOptions QuantizeConfig::quantization() const {
  UniformQuantizationOptions o;
  o.weight_bits = o.input_bits = bits;
  o.thresholds = thresholds == "asymmetric" ? Thresholds::kAsymmetric : Thresholds::kSymmetric;
  // --mode is the weights' granularity (section 3.1.5: one threshold per filter); activations keep
  // one threshold per tensor in both modes, as integer inference needs (one scale per input of a
  // product).
  o.weight_granularity = mode == "scalar" ? Granularity::kScalar : Granularity::kVector;
  o.input_granularity = Granularity::kScalar;
  o.pointwise_weight_scales = train_weight_scales;
  return o;
}

void QuantizeConfig::resolve(const std::string& model, const std::string& dataset) {
  if (out.empty())
    out = "runs/" + model + "-" + dataset + "-fat" + std::to_string(bits) + "-" + mode + "-" +
          thresholds;
}

void add_quantize_flags(CLI::App& app, QuantizeConfig& c) {
  app.option_defaults()->always_capture_default();  // --help shows every default
  add_checkpoint_flag(app, c.checkpoint,
                      "a float checkpoint written by lowbit-train (best.ckpt or last.ckpt)");
  add_run_data_dir_flag(app, c.data_dir);
  app.add_option(
      "--out", c.out,
      "output directory (default: runs/<model>-<dataset>-fat<bits>-<mode>-<thresholds>)");
  app.add_option("--bits", c.bits, "bits of weights and activations")->check(CLI::Range(2, 8));
  app.add_option("--mode", c.mode,
                 "weight thresholds: scalar (one per layer) or vector (one per filter)")
      ->check(CLI::IsMember({"scalar", "vector"}));
  app.add_option("--thresholds", c.thresholds,
                 "symmetric (eq. 12-15) or asymmetric (left limit and width, eq. 21-23)")
      ->check(CLI::IsMember({"symmetric", "asymmetric"}));
  app.add_flag("--rescale-dws", c.rescale_dws,
               "rescale depthwise-separable pairs first (section 3.3.1, MobileNet-v2)");
  app.add_option("--calibration-images", c.calibration_images,
                 "training images that calibrate the activation thresholds")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--data-fraction", c.data_fraction,
                 "fraction of the training split used for fine-tuning (labels unused)")
      ->check(real_range(1e-6, 1.0));
  app.add_option("--epochs", c.epochs, "fine-tuning epochs (0: calibrate and evaluate only)")
      ->check(CLI::Range(0, 10000));
  add_batch_size_flag(app, c.batch_size, "fine-tuning images per batch");
  app.add_option("--lr", c.lr, "Adam learning rate of the threshold (and weight) scales")
      ->check(real_range(1e-9, 10.0));
  app.add_option("--restart-epochs", c.restart_epochs,
                 "cosine warm restarts: first period T0 in epochs")
      ->check(CLI::Range(1, 10000));
  app.add_option("--restart-mult", c.restart_mult, "cosine warm restarts: period multiplier Tmult")
      ->check(CLI::Range(1, 100));
  app.add_flag("--train-weight-scales", c.train_weight_scales,
               "also train point-wise weight scale factors in [0.75, 1.25] (section 4.2)");
  app.add_option("--rmse-images", c.rmse_images,
                 "held-out images on which the logits' RMSE is reported")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--tie-images", c.tie_images,
                 "training images on which thresholds are moved off rounding ties between the "
                 "simulated and "
                 "the integer-only model (models/transforms/rounding_ties.h; 0: off)")
      ->check(CLI::Range(0, 10000000));
  app.add_option("--eval-batch-size", c.eval_batch_size, "images per batch in evaluation")
      ->check(CLI::Range(1, 65536));
  add_threads_flag(app, c.threads);
  app.add_option("--seed", c.seed, "random seed (fine-tuning batch order)");
  app.add_flag("--overwrite", c.overwrite, "replace what --out already holds");
}

// Every setting but --overwrite, which says what to do with --out, not how the run quantizes.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QuantizeConfig, checkpoint, data_dir, out, bits, mode,
                                   thresholds, rescale_dws, calibration_images, data_fraction,
                                   epochs, batch_size, lr, restart_epochs, restart_mult,
                                   train_weight_scales, rmse_images, tie_images, eval_batch_size,
                                   threads, seed)

nlohmann::json to_json(const QuantizeConfig& c) { return nlohmann::json(c); }

QuantizeConfig quantize_config_from_json(const nlohmann::json& j, const std::string& where) {
  // Every key is required but tie_images: checkpoints written before the rounding-tie clearance
  // have none, and ran without it (0, not today's default).
  QuantizeConfig c;
  if (!j.is_object() || j.contains("tie_images")) {
    c = read_json_record<QuantizeConfig>(j, where);
  } else {
    nlohmann::json with_ties = j;
    with_ties["tie_images"] = 0;
    c = read_json_record<QuantizeConfig>(with_ties, where);
  }
  // The types are right; now the values, through the very checks of the flags that set them (a
  // mode "float", 2^31 bits).
  QuantizeConfig scratch;
  CLI::App flags;
  add_quantize_flags(flags, scratch);
  check_stored_settings(flags, j, to_json(QuantizeConfig{}), where, [](const CLI::Option& option) {
    std::string key = option.get_name().substr(2);  // "--calibration-images"
    std::replace(key.begin(), key.end(), '-', '_');
    return key;
  });
  return c;
}

}  // namespace lowbit
