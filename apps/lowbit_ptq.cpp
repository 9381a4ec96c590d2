// lowbit-ptq: data-free post-training quantization of a trained checkpoint (Nayak, Zhang and
// Chai, "Bit Efficient Quantization for Deep Neural Networks"): every scheme at every bit
// width, evaluated on the test set, with sizes (Tables 1 and 5), class grouping (Table 2),
// per-channel ranges and histograms (Figures 1 and 2), confusion matrices (Figure 3) and one
// HTML page. No data is read to quantize; the test set is only for evaluation.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "apps/common/cli_main.h"
#include "apps/ptq/ptq_config.h"
#include "apps/ptq/ptq_output.h"
#include "apps/train/run_setup.h"
#include "core/run_lock.h"
#include "data/datasets.h"
#include "data/split.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

// "kernels, biases, BN scale and shift": what a sweep with `targets` quantizes.
std::string targets_text(const PtqTargets& targets) {
  std::string text = targets.biases ? "kernels, biases" : "kernels";
  if (targets.bn == PtqBn::kAffine) text += ", BN scale and shift";
  if (targets.bn == PtqBn::kAll) text += ", BN scale, shift, running mean and variance";
  return text;
}

int run(const PtqConfig& config) {
  PtqSweepOptions options = config.sweep_options();
  const TrainedModel trained = load_trained_model(config.checkpoint);
  const TrainConfig& train = trained.config;
  const DatasetInfo info = run_dataset_info(train);
  Module& model = *trained.model;
  const std::string out = config.output_dir();
  fs::create_directories(fs::path(out) / "confusion");
  // Held to the end: a second lowbit-ptq into the same directory stops here (status 2).
  const RunLock lock(out, "lowbit-ptq");

  // The figures' layers and variants are measured (and checked) before the long part.
  const PtqFigures figures{figure_layers(model, config.layers), config.analysis_bits,
                           parse_ptq_scheme(config.histogram_scheme)};
  const WeightAnalysis analysis = analyse_weights(model, figure_variants(options, figures),
                                                  options.targets, figures.layers, config.bins);

  const std::string dir =
      resolve_data_dir(train.dataset, config.data_dir.empty() ? train.data_dir : config.data_dir);
  Dataset test = load_dataset(train.dataset, dir).test;
  if (config.test_subset > 0) test = take_first(interleave_classes(test), config.test_subset);
  for (const std::string& m : config.merge_classes)
    options.groups.push_back(parse_class_group(m, test.class_names));
  check_disjoint(options.groups);
  std::printf("%s: %s on %s after %d epochs; %lld test images from %s\n", config.checkpoint.c_str(),
              train.model.c_str(), train.dataset.c_str(), trained.progress.epochs_done,
              static_cast<long long>(test.size()), dir.c_str());
  std::printf("quantizing per %s: %s; %zu cells\n", config.granularity.c_str(),
              targets_text(options.targets).c_str(), sweep_cells(options).size());
  std::fflush(stdout);

  const auto loader = make_eval_loader(test, config.batch_size, info);
  const PtqSweep sweep = run_ptq_sweep(
      model, *loader, info.num_classes, options, [](size_t done, size_t total, const PtqCell& c) {
        std::fprintf(stderr, "lowbit-ptq: [%zu/%zu] %-10s %6.2f%%  (%.1f s)\n", done, total,
                     c.label.c_str(), c.evaluation.accuracy, c.seconds);
      });
  std::printf("%s", ptq_tables_text(sweep).c_str());

  const PtqSource source{
      config.checkpoint,        train.model,      train.dataset, trained.progress.epochs_done,
      trained.progress.history, test.class_names, test.size()};
  write_ptq_output(out, source, sweep, analysis, figures);
  std::printf(
      "\nwritten to %s: ptq.csv, ptq.json, levels.csv, ranges.csv, histograms.csv, confusion/, "
      "*.svg, report.html\n",
      out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(
      argc, argv, "lowbit-ptq",
      "lowbit-ptq: data-free post-training quantization sweep of a lowbit-train checkpoint: "
      "accuracy, size, compression, ranges, histograms, confusion matrices and an HTML report",
      add_ptq_flags, run);
}
