// What lowbit-ptq leaves behind: the sweep's tables as text, and its files: the tables as CSV
// and JSON, the analysis as CSV, the figures as SVG (per-channel ranges, histograms, confusion
// matrices) and one HTML page with all of it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/ptq/ptq_analysis.h"
#include "apps/ptq/ptq_sweep.h"
#include "apps/train/run_log.h"

namespace lowbit {

// What the figures show: the kernels plotted; the bit widths of the range plots, the per-scheme
// histograms and the confusion plots (pow2-free, which has none, at its own); the scheme whose
// histograms are drawn at every bit width of the sweep.
struct PtqFigures {
  std::vector<std::string> layers;
  std::vector<int> analysis_bits = {3};
  PtqScheme histogram_scheme = PtqScheme::kSymmetric;
};
// --layers as asked: empty, the layer of Figure 1 (default_analysis_layer); "all", every kernel.
std::vector<std::string> figure_layers(const Module& model, const std::vector<std::string>& asked);
// A variant (or cell) the per-scheme figures show: pow2-free, or one at the analysis bit widths.
bool at_analysis_bits(const PtqSpec& spec, const PtqFigures& figures);
// The variants analyse_weights measures for the figures, each once: every scheme of the sweep at
// the analysis bit widths (sweep_cells order), then the histogram scheme at the sweep's others.
std::vector<PtqSpec> figure_variants(const PtqSweepOptions& sweep, const PtqFigures& figures);

// The four tables as lowbit-ptq prints them, each under its heading: accuracy and size (Table 1),
// compression (Table 5), distinct levels (Table 3c), and with class groups, Table 2.
std::string ptq_tables_text(const PtqSweep& sweep);

// The run the sweep quantized, as the files name it.
struct PtqSource {
  std::string checkpoint, model, dataset;
  int epochs = 0;
  std::vector<EpochMetrics> history;     // training curves for the report; may be empty
  std::vector<std::string> class_names;  // of the test set
  int64_t test_images = 0;
};

// Writes into the directory `out`, which must exist with its subdirectory confusion/: ptq.csv,
// ptq.json, levels.csv, ranges.csv, histograms.csv, confusion/<cell>.csv and .svg (float and the
// cells at the analysis bit widths), ranges-<layer>.svg, histogram-<layer>.svg,
// histogram-<layer>-<scheme>-bits.svg and report.html. `analysis` is of figure_variants.
void write_ptq_output(const std::string& out, const PtqSource& source, const PtqSweep& sweep,
                      const WeightAnalysis& analysis, const PtqFigures& figures);

}  // namespace lowbit
