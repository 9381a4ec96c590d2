// lowbit-ptq: data-free post-training quantization of a trained checkpoint (Nayak, Zhang and
// Chai, "Bit Efficient Quantization for Deep Neural Networks"): every scheme at every bit
// width, evaluated on the test set, with sizes (Tables 1 and 5), class grouping (Table 2),
// per-channel ranges and histograms (Figures 1 and 2), confusion matrices (Figure 3) and one
// HTML page. No data is read to quantize; the test set is only for evaluation. Under mpirun -np N
// every cell's evaluation is split over the N ranks (each reads its shard of every test batch),
// and rank 0 alone writes the output.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/common/cli_main.h"
#include "apps/ptq/ptq_config.h"
#include "apps/ptq/ptq_output.h"
#include "apps/train/data_parallel.h"
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

// What the sweep needs, set up alike on every rank.
struct PtqRun {
  PtqSweepOptions options;
  TrainedModel trained;
  DatasetInfo info;
  std::unique_ptr<RunLock> lock;  // rank 0's
  PtqFigures figures;
  WeightAnalysis analysis;
  std::string data_dir;
  Dataset test;
};

void set_up(const PtqConfig& config, PtqRun& run) {
  run.options = config.sweep_options();
  run.trained = load_trained_model(config.checkpoint);
  const TrainConfig& train = run.trained.config;
  run.info = run_dataset_info(train);
  Module& model = *run.trained.model;
  const std::string out = config.output_dir();
  if (world().rank() == 0) {
    fs::create_directories(fs::path(out) / "confusion");
    // Held to the end: a second lowbit-ptq into the same directory stops here (status 2).
    run.lock = std::make_unique<RunLock>(out, "lowbit-ptq");
  }
  // The figures' layers and variants are measured (and checked) before the long part.
  run.figures = PtqFigures{figure_layers(model, config.layers), config.analysis_bits,
                           parse_ptq_scheme(config.histogram_scheme)};
  run.analysis = analyse_weights(model, figure_variants(run.options, run.figures),
                                 run.options.targets, run.figures.layers, config.bins);
  run.data_dir =
      resolve_data_dir(train.dataset, config.data_dir.empty() ? train.data_dir : config.data_dir);
  run.test = load_dataset(train.dataset, run.data_dir).test;
  if (config.test_subset > 0)
    run.test = take_first(interleave_classes(run.test), config.test_subset);
  for (const std::string& m : config.merge_classes)
    run.options.groups.push_back(parse_class_group(m, run.test.class_names));
  check_disjoint(run.options.groups);
}

int run(const PtqConfig& config) {
  PtqRun run;
  // A failure on any rank (its data, rank 0's lock) ends every rank here with one message.
  world().agree([&] { set_up(config, run); });
  const TrainConfig& train = run.trained.config;
  const Dataset& test = run.test;
  const bool rank0 = world().rank() == 0;  // alone writes the output
  std::printf("%s: %s on %s after %d epochs; %lld test images from %s\n", config.checkpoint.c_str(),
              train.model.c_str(), train.dataset.c_str(), run.trained.progress.epochs_done,
              static_cast<long long>(test.size()), run.data_dir.c_str());
  std::printf("quantizing per %s: %s; %zu cells\n", config.granularity.c_str(),
              targets_text(run.options.targets).c_str(), sweep_cells(run.options).size());
  std::fflush(stdout);

  const auto loader = sharded_eval_loader(test, config.batch_size, run.info);
  const PtqSweep sweep =
      run_ptq_sweep(*run.trained.model, *loader, run.info.num_classes, run.options,
                    [rank0](size_t done, size_t total, const PtqCell& c) {
                      if (!rank0) return;
                      std::fprintf(stderr, "lowbit-ptq: [%zu/%zu] %-10s %6.2f%%  (%.1f s)\n", done,
                                   total, c.label.c_str(), c.evaluation.accuracy, c.seconds);
                    });
  std::printf("%s", ptq_tables_text(sweep).c_str());
  if (!rank0) return 0;

  const PtqSource source{config.checkpoint,
                         train.model,
                         train.dataset,
                         run.trained.progress.epochs_done,
                         run.trained.progress.history,
                         test.class_names,
                         test.size()};
  const std::string out = config.output_dir();
  write_ptq_output(out, source, sweep, run.analysis, run.figures);
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
      add_ptq_flags, run, Ranks::kMany);
}
