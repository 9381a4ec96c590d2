// Flag declarations of EvalConfig and the default paths of its outputs.
#include "apps/train/eval_config.h"

#include <filesystem>

#include "apps/common/flags.h"
#include "core/check.h"

namespace lowbit {

std::string EvalConfig::csv_path() const {
  return csv.empty() ? checkpoint + ".confusion.csv" : csv;
}

std::string EvalConfig::svg_path() const {
  const std::string csv_file = csv_path();
  std::string path = svg;
  if (path.empty()) {
    const bool csv_suffix = std::filesystem::path(csv_file).extension() == ".csv";
    path = csv_file.substr(0, csv_file.size() - (csv_suffix ? 4 : 0)) + ".svg";
  }
  LOWBIT_CHECK(path != csv_file, "--svg ", path, ": the same file as --csv; expected another path");
  return path;
}

void add_eval_flags(CLI::App& app, EvalConfig& c) {
  add_checkpoint_flag(app, c.checkpoint,
                      "a checkpoint written by lowbit-train (last.ckpt, best.ckpt) or "
                      "lowbit-quantize (quantized.ckpt)");
  app.add_flag(
      "--integer", c.integer,
      "run a lowbit-quantize model integer-only (integer codes, int32 accumulators) and report its "
      "agreement with the simulated model");
  app.add_flag("--tta-flip,!--no-tta-flip", c.tta_flip,
               "average each test image's logits with its mirror image's (test-time augmentation; "
               "default: as the run was validated)")
      ->each([&c](const std::string&) { c.tta_flip_given = true; });
  app.add_option(
         "--recalibrate-bn", c.recalibrate_bn,
         "first re-estimate the batch-norm running statistics from N training images (the run's "
         "training split, no augmentation) with the weights as they are; 0: use the stored "
         "statistics")
      ->check(CLI::Range(0, 100000000));
  add_run_data_dir_flag(app, c.data_dir);
  app.add_option("--csv", c.csv,
                 "where to write the confusion matrix (default: <checkpoint>.confusion.csv)");
  app.add_option("--svg", c.svg,
                 "where to draw the confusion matrix as a heat map (default: the --csv path, .svg "
                 "in place of .csv)");
  app.add_option("--json", c.json, "also write the results as JSON to this file");
  add_batch_size_flag(app, c.batch_size);
  add_threads_flag(app, c.threads);
}

}  // namespace lowbit
