// The post-training quantization sweep of lowbit-ptq: every (scheme, bit width) cell
// quantized from the same float model without data, evaluated on the test set, and sized;
// and the sweep's tables in the shape of the bit-efficient quantization paper's Table 1
// (accuracy and size per bit width), Table 2 (classes grouped) and Table 5 (compression).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/ptq/ptq_analysis.h"
#include "apps/ptq/ptq_size.h"
#include "apps/train/evaluate.h"
#include "data/batch_loader.h"
#include "models/transforms/ptq_model.h"

namespace lowbit {

struct PtqSweepOptions {
  std::vector<PtqScheme> schemes = {PtqScheme::kAsymmetric, PtqScheme::kSymmetric, PtqScheme::kPow2,
                                    PtqScheme::kPow2Free};
  std::vector<int> bits = {8, 7, 6, 5, 4, 3, 2};
  Granularity granularity = Granularity::kScalar;
  PtqTargets targets;
  CompressionOptions compression;
  std::vector<ClassGroup> groups;  // --merge-classes
};

// The cells in table order: each scheme at each bit width (pow2-free once, without one).
std::vector<PtqSpec> sweep_cells(const PtqSweepOptions& options);

struct PtqCell {
  std::string label;  // "float", "sym-3", "pow2-free"
  PtqSpec spec;       // unused for the float baseline
  bool baseline = false;
  Evaluation evaluation;
  GroupedAccuracy grouped;  // with options.groups merged (empty groups: plain accuracy)
  ModelSize size;
  LevelSummary levels;  // distinct values of every kernel
  int64_t quantized_values = 0;
  double seconds = 0;  // quantize + evaluate + size
};

struct PtqSweep {
  PtqSweepOptions options;
  PtqCell baseline;
  std::vector<PtqCell> cells;
};

// Evaluates the float model, then every cell (each from the float values, which are restored
// at the end). on_cell(done, total, cell) runs after the baseline (done 0) and each cell.
PtqSweep run_ptq_sweep(Module& model, BatchLoader& test, int64_t num_classes,
                       const PtqSweepOptions& options,
                       const std::function<void(size_t, size_t, const PtqCell&)>& on_cell = {});

// The tables, as aligned text and as HtmlTable-ready rows (header first).
using TextTable = std::vector<std::vector<std::string>>;
TextTable accuracy_table(
    const PtqSweep& sweep);  // Table 1: rows schemes, columns FP-32 and bit widths
TextTable compression_table(const PtqSweep& sweep);  // Table 5: float32 / packed, raw / gzip / xz
TextTable grouped_table(const PtqSweep& sweep);      // Table 2: accuracy before / after grouping
TextTable levels_table(const PtqSweep& sweep);       // average bit-levels of every cell
std::string format_text_table(const TextTable& table);

// One line per cell (the baseline first, scheme "float", bits 32).
std::string ptq_csv(const PtqSweep& sweep);
// Per cell and kernel: distinct values and bit-levels.
std::string levels_csv(const PtqSweep& sweep);
nlohmann::json ptq_json(const PtqSweep& sweep, const std::vector<std::string>& class_names);

}  // namespace lowbit
