// PtqConfig: every setting of a lowbit-ptq run (the sweep, its figures, where they go), declared
// once for the command line, and the sweep options they ask for.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/ptq/ptq_sweep.h"

namespace lowbit {

struct PtqConfig {
  std::string checkpoint;  // a lowbit-train checkpoint
  std::string data_dir;    // empty: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>
  std::string out;         // empty: ptq-<granularity> beside the checkpoint
  std::vector<std::string> schemes = {"asym", "sym", "pow2", "pow2-free"};
  std::vector<int> bits = {8, 7, 6, 5, 4, 3, 2};
  std::string granularity = "tensor";  // tensor | channel
  std::string bn = "affine";           // none | affine | all
  bool skip_bias = false;
  std::vector<std::string> merge_classes;  // "cat,dog", one group each (Table 2)
  std::vector<int> analysis_bits = {3};    // bit widths of the range, histogram and confusion plots
  std::vector<std::string> layers;         // kernels to plot; empty: the 9th (Figure 1); "all"
  std::string histogram_scheme = "sym";    // drawn at every bit width (Figure 2, right)
  int bins = 81;
  bool no_compress = false;
  int gzip_level = 6, xz_preset = 6;
  int64_t test_subset = 0;  // 0: every test image
  int64_t batch_size = 256;
  int threads = 0;  // 0: one per core

  // The sweep these settings ask for, without the class groups (they need the data set's class
  // names). Throws on an empty --schemes or a bit width (--bits, --analysis-bits) out of range.
  PtqSweepOptions sweep_options() const;
  // --out, or its default ptq-<granularity> beside the checkpoint.
  std::string output_dir() const;
};

void add_ptq_flags(CLI::App& app, PtqConfig& config);
// --granularity, --bn and --skip-bias: what a PTQ cell quantizes (lowbit-ptq, lowbit-export --ptq).
void add_ptq_target_flags(CLI::App& app, std::string& granularity, std::string& bn,
                          bool& skip_bias);

}  // namespace lowbit
