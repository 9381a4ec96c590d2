// lowbit-eval: evaluates a lowbit-train or lowbit-quantize checkpoint on its data set's test split:
// accuracy, per-class accuracy and the confusion matrix (printed, and written as CSV and as an SVG
// heat map). With --integer, a lowbit-quantize model runs integer-only (models/transforms/integer_model.h),
// and the share of test images on which it predicts as its simulation is reported.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "apps/train/bn_recalibration.h"
#include "apps/common/cli_main.h"
#include "apps/train/confusion_report.h"
#include "apps/train/evaluate.h"
#include "apps/train/run_log.h"
#include "apps/fat/quantize_model.h"
#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "apps/train/training_checkpoint.h"
#include "core/check.h"
#include "core/parallel.h"
#include "data/datasets.h"
#include "data/split.h"
#include "models/transforms/integer_model.h"

using namespace lowbit;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{
      "lowbit-eval: test accuracy, per-class accuracy and confusion matrix of a lowbit-train or "
      "lowbit-quantize checkpoint"};
  std::string checkpoint, data_dir, csv_path, svg_path, json_path;
  int threads = 0, batch_size = 256, recalibrate_bn = 0;
  bool integer = false, tta_flip = false;
  app.add_option("--checkpoint", checkpoint,
                 "a checkpoint written by lowbit-train (last.ckpt, best.ckpt) or lowbit-quantize (quantized.ckpt)")
      ->required();
  app.add_flag("--integer", integer,
               "run a lowbit-quantize model integer-only (integer codes, int32 accumulators) and report its "
               "agreement with the simulated model");
  auto* tta_option = app.add_flag("--tta-flip,!--no-tta-flip", tta_flip,
                                  "average each test image's logits with its mirror image's (test-time augmentation; "
                                  "default: as the run was validated)");
  app.add_option("--recalibrate-bn", recalibrate_bn,
                 "first re-estimate the batch-norm running statistics from N training images (the run's training "
                 "split, no augmentation) with the weights as they are; 0: use the stored statistics")
      ->check(CLI::Range(0, 100000000));
  app.add_option("--data-dir", data_dir, "data directory (default: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>)");
  app.add_option("--csv", csv_path, "where to write the confusion matrix (default: <checkpoint>.confusion.csv)");
  app.add_option("--svg", svg_path,
                 "where to draw the confusion matrix as a heat map (default: the --csv path, .svg in place of .csv)");
  app.add_option("--json", json_path, "also write the results as JSON to this file");
  app.add_option("--batch-size", batch_size, "images per batch")->check(CLI::Range(1, 65536));
  app.add_option("--threads", threads, "threads (0: one per core)")->check(CLI::Range(0, 1024));
  return run_cli(app, argc, argv, "lowbit-eval", [&]() -> int {
    set_num_threads(threads);
    std::shared_ptr<Module> model;
    TrainConfig config;
    std::string provenance;
    if (is_quantized_checkpoint(checkpoint)) {
      const QuantizedModel q = load_quantized_checkpoint(checkpoint);
      model = q.model;
      config = q.train;
      provenance = concat(q.quantize.bits, "-bit ", q.quantize.mode, " ", q.quantize.thresholds, " (lowbit-quantize)");
    } else {
      LOWBIT_CHECK(!integer, checkpoint,
                   ": --integer needs a lowbit-quantize checkpoint (quantized.ckpt); this one is from lowbit-train");
      TrainedModel trained = load_trained_model(checkpoint);
      model = trained.model;
      config = trained.config;
      provenance = concat("after ", trained.progress.epochs_done, " epochs");
    }
    if (!data_dir.empty()) config.data_dir = data_dir;
    const DatasetInfo& info = dataset_info(config.dataset);
    if (tta_option->count() == 0) tta_flip = config.tta_flip;
    if (tta_flip) check_tta_flip_allowed(config.dataset);
    LOWBIT_CHECK(!tta_flip || !integer, "--tta-flip and --integer: expected one or the other");
    const std::string dir = resolve_data_dir(config.dataset, config.data_dir);
    TrainTest both = load_dataset(config.dataset, dir);
    const Dataset& test = both.test;
    auto loader = make_eval_loader(test, batch_size, info);
    if (recalibrate_bn > 0) {
      const Dataset train = split_validation(both.train, config.val_split, config.seed).train;
      auto train_loader = make_eval_loader(train, batch_size, info);
      const int64_t batches = (recalibrate_bn + batch_size - 1) / batch_size;
      const int64_t used = recalibrate_batch_norm(*model, *train_loader, batches);
      std::printf("batch norm re-estimated from %lld training images (%lld batches)\n",
                  static_cast<long long>(std::min<int64_t>(used * batch_size, train.size())), static_cast<long long>(used));
    }
    Evaluation e;
    Agreement agreement;
    std::unique_ptr<IntegerModel> integer_model;
    if (integer) {  // the integer-only model beside its simulation, in one pass
      integer_model = std::make_unique<IntegerModel>(*model);
      const PairedEvaluation both = evaluate_pair(*model, *integer_model, *loader, info.num_classes);
      e = both.second;
      agreement = both.agreement;
      std::printf("%s: %s on %s, %s, run integer-only (the simulated model: %.2f%%)\n", checkpoint.c_str(),
                  config.model.c_str(), config.dataset.c_str(), provenance.c_str(), both.first.accuracy);
      std::printf("integer-only predictions agree with the simulated model on %.2f%% of %lld images (max |logit "
                  "difference| %.3g)\n",
                  agreement.percent(), static_cast<long long>(agreement.count), agreement.max_abs_logit_difference);
      if (integer_model->saturated_values() > 0)
        std::printf("warning: %lld values exceeded the fixed-point range and were clamped\n",
                    static_cast<long long>(integer_model->saturated_values()));
    } else {
      e = evaluate(*model, *loader, info.num_classes, tta_flip);
      std::printf("%s: %s on %s, %s%s\n", checkpoint.c_str(), config.model.c_str(), config.dataset.c_str(),
                  provenance.c_str(), tta_flip ? ", logits averaged with the mirror images'" : "");
    }
    std::printf("test accuracy %.2f%% (%lld images from %s), loss %.4f\n\n", e.accuracy,
                static_cast<long long>(e.count), dir.c_str(), e.loss);
    std::printf("confusion matrix (rows: true class, columns: predicted class)\n%s",
                confusion_table(e, test.class_names).c_str());
    if (csv_path.empty()) csv_path = checkpoint + ".confusion.csv";
    if (svg_path.empty()) {  // beside the CSV: its name with .svg for a final .csv, else .svg added
      const bool csv_suffix = fs::path(csv_path).extension() == ".csv";
      svg_path = csv_path.substr(0, csv_path.size() - (csv_suffix ? 4 : 0)) + ".svg";
    }
    LOWBIT_CHECK(svg_path != csv_path, "--svg ", svg_path, ": the same file as --csv; expected another path");
    write_file_atomic(csv_path, confusion_csv(e, test.class_names));
    char title[256];
    std::snprintf(title, sizeof title, "%s on %s: %.2f%% of %lld test images", config.model.c_str(),
                  config.dataset.c_str(), e.accuracy, static_cast<long long>(e.count));
    write_file_atomic(svg_path, svg_confusion(e.confusion, test.class_names, title));
    std::printf("\nconfusion matrix written to %s (CSV) and %s (heat map)\n", csv_path.c_str(), svg_path.c_str());
    if (!json_path.empty()) {
      nlohmann::json per_class = nlohmann::json::object();
      for (int64_t k = 0; k < e.num_classes; ++k) per_class[test.class_names.at(static_cast<size_t>(k))] = e.class_accuracy(k);
      nlohmann::json out = {{"checkpoint", checkpoint},     {"model", config.model},   {"dataset", config.dataset},
                            {"test_accuracy", e.accuracy}, {"test_loss", e.loss},     {"test_images", e.count},
                            {"tta_flip", tta_flip},        {"class_accuracy", per_class}, {"confusion", e.confusion}};
      if (integer) {
        out["integer"] = true;
        out["integer_agreement"] = agreement.percent();
        out["integer_max_logit_difference"] = agreement.max_abs_logit_difference;
        out["integer_saturated_values"] = integer_model->saturated_values();
      }
      write_file_atomic(json_path, out.dump(2) + "\n");
    }
    return 0;
  });
}
