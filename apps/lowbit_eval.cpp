// lowbit-eval: evaluates a lowbit-train or lowbit-quantize checkpoint on its data set's test split:
// accuracy, per-class accuracy and the confusion matrix (printed, and written as CSV and as an SVG
// heat map). With --integer, a lowbit-quantize model runs integer-only
// (models/transforms/integer_model.h), and the share of test images on which it predicts as its
// simulation is reported.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "apps/common/cli_main.h"
#include "apps/fat/quantize_model.h"
#include "apps/train/bn_recalibration.h"
#include "apps/train/confusion_report.h"
#include "apps/train/eval_config.h"
#include "apps/train/evaluate.h"
#include "apps/train/imported_model.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "core/check.h"
#include "data/datasets.h"
#include "data/split.h"
#include "models/transforms/integer_model.h"

using namespace lowbit;

namespace {

// The model of a checkpoint of either program, the run it came from, and how to name it.
struct EvalModel {
  std::shared_ptr<Module> model;
  TrainConfig train;
  std::string provenance;  // "after 30 epochs", "8-bit vector symmetric (lowbit-quantize)"
};

EvalModel load_eval_model(const EvalConfig& config) {
  if (is_quantized_checkpoint(config.checkpoint)) {
    const QuantizedModel q = load_quantized_checkpoint(config.checkpoint);
    return {q.model, q.train,
            concat(q.quantize.bits, "-bit ", q.quantize.mode, " ", q.quantize.thresholds,
                   " (lowbit-quantize)")};
  }
  LOWBIT_CHECK(!config.integer, config.checkpoint,
               ": --integer needs a lowbit-quantize checkpoint (quantized.ckpt); this one is from "
               "lowbit-train");
  TrainedModel trained = load_trained_model(config.checkpoint);
  return {trained.model, trained.config,
          is_imported(trained.config) ? std::string("imported from ONNX (lowbit-import)")
                                      : concat("after ", trained.progress.epochs_done, " epochs")};
}

// --recalibrate-bn: the BN statistics re-estimated from the first images of the run's
// training split (its validation hold-out left out, no augmentation).
void recalibrate(Module& model, const Dataset& train_set, const EvalConfig& config,
                 const TrainConfig& train, const DatasetInfo& info) {
  const Dataset train_split = split_validation(train_set, train.val_split, train.seed).train;
  auto loader = make_eval_loader(train_split, config.batch_size, info);
  const int64_t batches = (config.recalibrate_bn + config.batch_size - 1) / config.batch_size;
  const int64_t used = recalibrate_batch_norm(model, *loader, batches);
  std::printf(
      "batch norm re-estimated from %lld training images (%lld batches)\n",
      static_cast<long long>(std::min<int64_t>(used * config.batch_size, train_split.size())),
      static_cast<long long>(used));
}

// The integer-only model's run, beside its simulation's in one pass.
struct IntegerRun {
  Evaluation evaluation;
  Agreement agreement;
  int64_t saturated_values = 0;
};

IntegerRun evaluate_integer(Module& simulated, BatchLoader& loader, int64_t classes,
                            const std::string& header) {
  IntegerModel integer(simulated);
  const PairedEvaluation both = evaluate_pair(simulated, integer, loader, classes);
  const Agreement& a = both.agreement;
  std::printf("%s, run integer-only (the simulated model: %.2f%%)\n", header.c_str(),
              both.first.accuracy);
  std::printf(
      "integer-only predictions agree with the simulated model on %.2f%% of %lld images (max "
      "|logit difference| %.3g)\n",
      a.percent(), static_cast<long long>(a.count), a.max_abs_logit_difference);
  if (integer.saturated_values() > 0)
    std::printf("warning: %lld values exceeded the fixed-point range and were clamped\n",
                static_cast<long long>(integer.saturated_values()));
  return {both.second, a, integer.saturated_values()};
}

nlohmann::json results_json(const EvalConfig& config, const TrainConfig& train, const Evaluation& e,
                            bool tta_flip, const std::vector<std::string>& class_names,
                            const std::optional<IntegerRun>& integer) {
  nlohmann::json out = {{"checkpoint", config.checkpoint},
                        {"model", train.model},
                        {"dataset", train.dataset},
                        {"test_accuracy", e.accuracy},
                        {"test_loss", e.loss},
                        {"test_images", e.count},
                        {"tta_flip", tta_flip},
                        {"class_accuracy", class_accuracy_json(e, class_names)},
                        {"confusion", e.confusion}};
  if (integer) {
    out["integer"] = true;
    out["integer_agreement"] = integer->agreement.percent();
    out["integer_max_logit_difference"] = integer->agreement.max_abs_logit_difference;
    out["integer_saturated_values"] = integer->saturated_values;
  }
  return out;
}

int run(const EvalConfig& config) {
  EvalModel m = load_eval_model(config);
  TrainConfig& train = m.train;
  if (!config.data_dir.empty()) train.data_dir = config.data_dir;
  const DatasetInfo info = run_dataset_info(train);
  const bool tta_flip = config.flip_average(train.tta_flip);
  if (tta_flip) check_tta_flip_allowed(train.dataset);
  LOWBIT_CHECK(!tta_flip || !config.integer, "--tta-flip and --integer: expected one or the other");
  const std::string dir = resolve_data_dir(train.dataset, train.data_dir);
  const TrainTest both = load_dataset(train.dataset, dir);
  const Dataset& test = both.test;
  auto loader = make_eval_loader(test, config.batch_size, info);
  if (config.recalibrate_bn > 0) recalibrate(*m.model, both.train, config, train, info);

  const std::string header =
      config.checkpoint + ": " + train.model + " on " + train.dataset + ", " + m.provenance;
  std::optional<IntegerRun> integer;
  Evaluation e;
  if (config.integer) {
    integer = evaluate_integer(*m.model, *loader, info.num_classes, header);
    e = integer->evaluation;
  } else {
    e = evaluate(*m.model, *loader, info.num_classes, tta_flip);
    std::printf("%s%s\n", header.c_str(),
                tta_flip ? ", logits averaged with the mirror images'" : "");
  }
  std::printf("test accuracy %.2f%% (%lld images from %s), loss %.4f\n\n", e.accuracy,
              static_cast<long long>(e.count), dir.c_str(), e.loss);
  std::printf("confusion matrix (rows: true class, columns: predicted class)\n%s",
              confusion_table(e, test.class_names).c_str());

  const std::string csv_path = config.csv_path(), svg_path = config.svg_path();
  write_file_atomic(csv_path, confusion_csv(e, test.class_names));
  char title[256];
  std::snprintf(title, sizeof title, "%s on %s: %.2f%% of %lld test images", train.model.c_str(),
                train.dataset.c_str(), e.accuracy, static_cast<long long>(e.count));
  write_file_atomic(svg_path, svg_confusion(e.confusion, test.class_names, title));
  std::printf("\nconfusion matrix written to %s (CSV) and %s (heat map)\n", csv_path.c_str(),
              svg_path.c_str());
  if (!config.json.empty()) {
    const nlohmann::json j = results_json(config, train, e, tta_flip, test.class_names, integer);
    write_file_atomic(config.json, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(
      argc, argv, "lowbit-eval",
      "lowbit-eval: test accuracy, per-class accuracy and confusion matrix of a lowbit-train or "
      "lowbit-quantize checkpoint",
      add_eval_flags, run);
}
