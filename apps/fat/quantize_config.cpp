// Flag declarations and JSON conversion of QuantizeConfig.
#include "apps/fat/quantize_config.h"

#include "apps/common/cli_main.h"

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
  app.add_option("--checkpoint", c.checkpoint,
                 "a float checkpoint written by lowbit-train (best.ckpt or last.ckpt)")
      ->required();
  app.add_option(
      "--data-dir", c.data_dir,
      "data directory (default: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>)");
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
  app.add_option("--batch-size", c.batch_size, "fine-tuning images per batch")
      ->check(CLI::Range(1, 65536));
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
  app.add_option("--threads", c.threads, "threads (0: one per core)")->check(CLI::Range(0, 1024));
  app.add_option("--seed", c.seed, "random seed (fine-tuning batch order)");
  app.add_flag("--overwrite", c.overwrite, "replace what --out already holds");
}

nlohmann::json to_json(const QuantizeConfig& c) {
  return {{"checkpoint", c.checkpoint},
          {"data_dir", c.data_dir},
          {"out", c.out},
          {"bits", c.bits},
          {"mode", c.mode},
          {"thresholds", c.thresholds},
          {"rescale_dws", c.rescale_dws},
          {"calibration_images", c.calibration_images},
          {"data_fraction", c.data_fraction},
          {"epochs", c.epochs},
          {"batch_size", c.batch_size},
          {"lr", c.lr},
          {"restart_epochs", c.restart_epochs},
          {"restart_mult", c.restart_mult},
          {"train_weight_scales", c.train_weight_scales},
          {"rmse_images", c.rmse_images},
          {"tie_images", c.tie_images},
          {"eval_batch_size", c.eval_batch_size},
          {"threads", c.threads},
          {"seed", c.seed}};
}

QuantizeConfig quantize_config_from_json(const nlohmann::json& j) {
  QuantizeConfig c;
  j.at("checkpoint").get_to(c.checkpoint);
  j.at("data_dir").get_to(c.data_dir);
  j.at("out").get_to(c.out);
  j.at("bits").get_to(c.bits);
  j.at("mode").get_to(c.mode);
  j.at("thresholds").get_to(c.thresholds);
  j.at("rescale_dws").get_to(c.rescale_dws);
  j.at("calibration_images").get_to(c.calibration_images);
  j.at("data_fraction").get_to(c.data_fraction);
  j.at("epochs").get_to(c.epochs);
  j.at("batch_size").get_to(c.batch_size);
  j.at("lr").get_to(c.lr);
  j.at("restart_epochs").get_to(c.restart_epochs);
  j.at("restart_mult").get_to(c.restart_mult);
  j.at("train_weight_scales").get_to(c.train_weight_scales);
  j.at("rmse_images").get_to(c.rmse_images);
  c.tie_images = j.value("tie_images", 0);  // checkpoints written before the clearance had none
  j.at("eval_batch_size").get_to(c.eval_batch_size);
  j.at("threads").get_to(c.threads);
  j.at("seed").get_to(c.seed);
  return c;
}

}  // namespace lowbit
