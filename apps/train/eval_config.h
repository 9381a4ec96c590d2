// EvalConfig: every setting of a lowbit-eval run, declared once for the command line, and the
// output paths they ask for.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace lowbit {

struct EvalConfig {
  // lowbit-train's last.ckpt or best.ckpt, or lowbit-quantize's quantized.ckpt
  std::string checkpoint;
  bool integer = false;         // run a lowbit-quantize model integer-only beside its simulation
  bool tta_flip = false;        // --tta-flip / --no-tta-flip, when given
  bool tta_flip_given = false;  // false: flip-average as the run was validated
  int recalibrate_bn = 0;       // training images that re-estimate the BN statistics first (0: off)
  std::string data_dir;         // empty: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>
  std::string csv;              // empty: <checkpoint>.confusion.csv
  std::string svg;              // empty: beside the CSV
  std::string json;             // empty: no JSON
  int batch_size = 256;
  int threads = 0;  // 0: one per core

  // Whether to average each image's logits with its mirror image's: as given, else as the run.
  bool flip_average(bool run_tta_flip) const { return tta_flip_given ? tta_flip : run_tta_flip; }
  // Where the confusion matrix goes: --csv, or <checkpoint>.confusion.csv.
  std::string csv_path() const;
  // Where its heat map goes: --svg, or the CSV path with .svg for a final .csv (else .svg added).
  // Throws when that is the CSV's path.
  std::string svg_path() const;
};

void add_eval_flags(CLI::App& app, EvalConfig& config);

}  // namespace lowbit
