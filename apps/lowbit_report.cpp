// lowbit-report: what a trained network looks like inside. For every weight tensor: shape,
// elements, the share of non-zeros (1 - sparsity, as Table 5 of Long et al. 2020 prints
// it), the count at each level of the power-of-two grid and the count off the grid; a
// whole-network line; with --data-dir, each quantized activation's share of zeros on a
// batch of test images; with --html, all of it, the training curves, and the test confusion
// matrix with per-class accuracy (from the run directory's test_confusion.csv) as one page.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "apps/common/cli_main.h"
#include "apps/common/html_report.h"
#include "apps/common/text_format.h"
#include "apps/train/confusion_report.h"
#include "apps/train/report_config.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "apps/train/training_checkpoint.h"
#include "apps/train/weight_report.h"
#include "apps/train/weight_stats.h"
#include "core/autograd.h"
#include "core/check.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "layers/quant/pow2_activation.h"
#include "models/transforms/weight_grid.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

struct ActivationZeros {
  std::string layer;  // the activation's position among the quantized activations
  int64_t elements = 0, zeros = 0;
};

// Runs one batch of test images through the model and counts, for every quantized
// activation's output, the elements that are exactly zero.
std::vector<ActivationZeros> activation_zeros(Module& model, const Dataset& test,
                                              const DatasetInfo& info, int64_t images) {
  BatchLoaderOptions o;
  o.batch_size = images;
  o.prefetch = 0;
  BatchLoader loader(test, normalization(info), o);
  loader.start_epoch(0);
  Batch batch;
  LOWBIT_CHECK(loader.next(batch), "the test set is empty");
  std::vector<ActivationZeros> found;
  model.eval();
  NoGradGuard no_grad;
  ObserveForward observe([&found](const Module& m, const Tensor&, const Tensor& out) {
    if (dynamic_cast<const Pow2Activation*>(&m) == nullptr) return;
    ActivationZeros z;
    z.layer = "activation " + std::to_string(found.size() + 1) + " " + out.shape().str();
    z.elements = out.numel();
    for (int64_t i = 0; i < out.numel(); ++i) z.zeros += out.data()[i] == 0.0f;
    found.push_back(z);
  });
  model(batch.images);
  return found;
}

// Percent of an activation's outputs that are zero.
double zero_share(const ActivationZeros& z) {
  return 100.0 * static_cast<double>(z.zeros) / static_cast<double>(z.elements);
}

// What lowbit-report measures of a trained model's weights: grid layers get the level table; a
// float model, and a grid model's float layers, their float statistics.
struct WeightTables {
  bool grid_model = false;
  std::string weights_text;  // "pow2 (grid min 2^-6)", "float"
  WeightReport levels;
  std::vector<WeightStats> stats;
  std::vector<NormScaleReport> norm_scales;
};

WeightTables weight_tables(const Module& model, const TrainConfig& config) {
  WeightTables t;
  DstSpec spec;
  spec.min_exp = config.weight_min_exp;
  t.grid_model = config.weights == "pow2";
  t.weights_text = t.grid_model ? "pow2 (grid min 2^" + std::to_string(config.weight_min_exp) + ")"
                                : config.weights;
  std::set<std::string> grid_names;
  if (t.grid_model)
    for (const Parameter& p :
         grid_weight_parameters(model, config.quantize_first, config.quantize_last))
      grid_names.insert(p.name);
  t.stats = weight_stats(model, grid_names);
  std::set<std::string> float_names;
  for (const WeightStats& s : t.stats) float_names.insert(s.name);
  t.levels = weight_report(model, spec, float_names);
  t.norm_scales = norm_scale_report(model);
  return t;
}

void print_weight_tables(const WeightTables& t, const Module& model) {
  if (t.grid_model) std::printf("%s", format_weight_report(t.levels).c_str());
  if (!t.stats.empty()) {
    if (t.grid_model) std::printf("\nfloat layers\n");
    std::printf("%s", format_weight_stats(t.stats).c_str());
  }
  std::printf("%s", format_norm_scale_report(t.norm_scales).c_str());
  std::printf("%s", format_activation_scale_report(activation_scale_report(model)).c_str());
}

// The page: the run, the test set's confusion matrix, the weights, the BN scales and the
// activations' zeros.
std::vector<HtmlSection> report_sections(const ReportConfig& config, const TrainedModel& trained,
                                         const WeightTables& t, const HtmlSection& test_section,
                                         const std::vector<ActivationZeros>& zeros) {
  const TrainConfig& train = trained.config;
  const std::string title = train.model + " on " + train.dataset;
  HtmlSection run{"Run", {}, {}, {}};
  run.paragraphs.push_back(config.checkpoint + ": " + std::to_string(trained.progress.epochs_done) +
                           " epochs; weights " + t.weights_text + ", activations " + train.act +
                           ".");
  if (!trained.progress.history.empty())
    run.figures.push_back(training_curves_svg(trained.progress.history, title));
  HtmlSection weights{"Weights", {}, {}, {}};
  if (t.grid_model) {
    weights.paragraphs.push_back(
        "Per weight tensor on the grid: non-zero share (1 - sparsity) and the count at each "
        "grid level; float layers are marked float.");
    weights.tables.push_back(html_table_from_csv("weight levels", weight_report_csv(t.levels)));
  }
  if (!t.stats.empty()) {
    weights.paragraphs.push_back(t.grid_model ? "The float layers: statistics and histograms."
                                              : "Per weight tensor: statistics and histograms.");
    weights.tables.push_back(html_table_from_csv("float weights", weight_stats_csv(t.stats)));
    weights.figures.push_back(weight_histograms_svg(t.stats, "weights of " + title));
  }
  std::vector<HtmlSection> sections{run, test_section, weights};
  if (!t.norm_scales.empty()) {
    HtmlTable table{"|gamma| of every batch norm", {"layer", "channels", "mean", "min", "max"}, {}};
    for (const NormScaleReport& r : t.norm_scales)
      table.rows.push_back({r.name, std::to_string(r.channels), fixed(r.mean_abs, 3),
                            fixed(r.min_abs, 3), fixed(r.max_abs, 3)});
    sections.push_back({"Batch-norm scales",
                        {"With a quantized activation after it, a BN's output has standard "
                         "deviation about |gamma|: set it against the activation's top level."},
                        {table},
                        {}});
  }
  if (!zeros.empty()) {
    HtmlTable table{"share of zeros on " + std::to_string(config.images) + " test images",
                    {"activation", "zeros"},
                    {}};
    for (const ActivationZeros& z : zeros)
      table.rows.push_back({z.layer, fixed(zero_share(z), 2) + "%"});
    sections.push_back({"Quantized activations", {}, {table}, {}});
  }
  return sections;
}

int run(const ReportConfig& config) {
  const TrainedModel trained = load_trained_model(config.checkpoint);
  const TrainConfig& train = trained.config;
  const DatasetInfo info = run_dataset_info(train);
  Module& model = *trained.model;
  const WeightTables tables = weight_tables(model, train);
  // The page's test-set section is read first, so that a malformed test_confusion.csv stops the
  // program before it prints anything.
  HtmlSection test_section;
  if (!config.html.empty()) {
    const std::string confusion_path =
        (fs::path(config.checkpoint).parent_path() / "test_confusion.csv").string();
    test_section = test_confusion_section(confusion_path, info.num_classes);
  }

  std::printf("%s: %s on %s, %d epochs; weights %s, activations %s\n", config.checkpoint.c_str(),
              train.model.c_str(), train.dataset.c_str(), trained.progress.epochs_done,
              tables.weights_text.c_str(), train.act.c_str());
  print_weight_tables(tables, model);
  if (!config.csv.empty()) {
    // A grid model's table is its levels (float layers marked there); a float model's, its
    // statistics.
    write_file_atomic(config.csv, tables.grid_model ? weight_report_csv(tables.levels)
                                                    : weight_stats_csv(tables.stats));
    std::printf("weight table written to %s\n", config.csv.c_str());
  }
  std::vector<ActivationZeros> zeros;
  if (config.data_dir) {
    const Dataset test =
        load_dataset(train.dataset, resolve_data_dir(train.dataset, *config.data_dir)).test;
    zeros = activation_zeros(model, test, info, config.images);
    if (zeros.empty())
      std::printf("\nthe model has no quantized activations (--act %s)\n", train.act.c_str());
    else
      std::printf("\nquantized activations on %lld test images: share of zeros\n",
                  static_cast<long long>(config.images));
    for (const ActivationZeros& z : zeros)
      std::printf("  %-40s %6.2f%%\n", z.layer.c_str(), zero_share(z));
  }
  if (!config.html.empty()) {
    write_file_atomic(config.html,
                      html_report("lowbit-report: " + train.model + " on " + train.dataset,
                                  report_sections(config, trained, tables, test_section, zeros)));
    std::printf("report page written to %s\n", config.html.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(
      argc, argv, "lowbit-report",
      "lowbit-report: per-layer weight levels, sparsity and activation zeros of a lowbit-train "
      "checkpoint",
      add_report_flags, run);
}
