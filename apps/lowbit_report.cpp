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
#include "apps/train/confusion_report.h"
#include "apps/common/html_report.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "apps/train/training_checkpoint.h"
#include "apps/train/weight_report.h"
#include "apps/train/weight_stats.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
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
std::vector<ActivationZeros> activation_zeros(Module& model, const Dataset& test, const DatasetInfo& info, int64_t images) {
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit-report: per-layer weight levels, sparsity and activation zeros of a lowbit-train checkpoint"};
  std::string checkpoint, csv_path, data_dir, html_path;
  int64_t images = 256;
  int threads = 0;
  app.add_option("--checkpoint", checkpoint, "a checkpoint written by lowbit-train")->required();
  app.add_option("--csv", csv_path, "also write the weight table as CSV to this file");
  app.add_option("--html", html_path,
                 "also write one self-contained page (tables, training curves and the test confusion matrix as SVG) "
                 "to this file");
  auto* data_option =
      app.add_option("--data-dir", data_dir, "data directory: also report each quantized activation's share of zeros");
  app.add_option("--images", images, "test images for the activation report")->check(CLI::Range(1, 100000));
  app.add_option("--threads", threads, "threads (0: one per core)")->check(CLI::Range(0, 1024));
  return run_cli(app, argc, argv, "lowbit-report", [&]() -> int {
    set_num_threads(threads);
    const TrainedModel trained = load_trained_model(checkpoint);
    const TrainConfig& config = trained.config;
    const DatasetInfo& info = dataset_info(config.dataset);
    Module& model = *trained.model;
    DstSpec spec;
    spec.min_exp = config.weight_min_exp;
    // Grid layers get the level table; a float model, and a grid model's float layers, their float
    // statistics.
    const bool grid_model = config.weights == "pow2";
    std::set<std::string> grid_names;
    if (grid_model)
      for (const Parameter& p : grid_weight_parameters(model, config.quantize_first, config.quantize_last))
        grid_names.insert(p.name);
    const std::vector<WeightStats> stats = weight_stats(model, grid_names);
    std::set<std::string> float_names;
    for (const WeightStats& s : stats) float_names.insert(s.name);
    const WeightReport report = weight_report(model, spec, float_names);
    // The page's test-set section is read first, so that a malformed test_confusion.csv stops the
    // program before it prints anything.
    HtmlSection test_section;
    if (!html_path.empty()) {
      const std::string confusion_path = (fs::path(checkpoint).parent_path() / "test_confusion.csv").string();
      test_section = test_confusion_section(confusion_path, info.num_classes);
    }

    const std::string weights_text =
        grid_model ? "pow2 (grid min 2^" + std::to_string(config.weight_min_exp) + ")" : config.weights;
    std::printf("%s: %s on %s, %d epochs; weights %s, activations %s\n", checkpoint.c_str(), config.model.c_str(),
                config.dataset.c_str(), trained.progress.epochs_done, weights_text.c_str(), config.act.c_str());
    if (grid_model) std::printf("%s", format_weight_report(report).c_str());
    if (!stats.empty()) {
      if (grid_model) std::printf("\nfloat layers\n");
      std::printf("%s", format_weight_stats(stats).c_str());
    }
    const std::vector<NormScaleReport> norm_scales = norm_scale_report(model);
    std::printf("%s", format_norm_scale_report(norm_scales).c_str());
    std::printf("%s", format_activation_scale_report(activation_scale_report(model)).c_str());
    if (!csv_path.empty()) {
      // A grid model's table is its levels (float layers marked there); a float model's, its statistics.
      write_file_atomic(csv_path, grid_model ? weight_report_csv(report) : weight_stats_csv(stats));
      std::printf("weight table written to %s\n", csv_path.c_str());
    }
    std::vector<ActivationZeros> zeros;
    if (data_option->count() > 0) {
      const std::string dir = resolve_data_dir(config.dataset, data_dir);
      const Dataset test = load_dataset(config.dataset, dir).test;
      zeros = activation_zeros(model, test, info, images);
      if (zeros.empty()) std::printf("\nthe model has no quantized activations (--act %s)\n", config.act.c_str());
      else std::printf("\nquantized activations on %lld test images: share of zeros\n", static_cast<long long>(images));
      for (const ActivationZeros& z : zeros) {
        std::printf("  %-40s %6.2f%%\n", z.layer.c_str(), 100.0 * static_cast<double>(z.zeros) / static_cast<double>(z.elements));
      }
    }
    if (!html_path.empty()) {
      const std::string title = config.model + " on " + config.dataset;
      HtmlSection run{"Run", {}, {}, {}};
      run.paragraphs.push_back(checkpoint + ": " + std::to_string(trained.progress.epochs_done) + " epochs; weights " +
                               weights_text + ", activations " + config.act + ".");
      if (!trained.progress.history.empty()) run.figures.push_back(training_curves_svg(trained.progress.history, title));
      HtmlSection weights{"Weights", {}, {}, {}};
      if (grid_model) {
        weights.paragraphs.push_back("Per weight tensor on the grid: non-zero share (1 - sparsity) and the count at each "
                                     "grid level; float layers are marked float.");
        weights.tables.push_back(html_table_from_csv("weight levels", weight_report_csv(report)));
      }
      if (!stats.empty()) {
        weights.paragraphs.push_back(grid_model ? "The float layers: statistics and histograms."
                                                : "Per weight tensor: statistics and histograms.");
        weights.tables.push_back(html_table_from_csv("float weights", weight_stats_csv(stats)));
        weights.figures.push_back(weight_histograms_svg(stats, "weights of " + title));
      }
      std::vector<HtmlSection> sections{run, test_section, weights};
      if (!norm_scales.empty()) {
        HtmlTable table{"|gamma| of every batch norm", {"layer", "channels", "mean", "min", "max"}, {}};
        for (const NormScaleReport& r : norm_scales) {
          char cells[3][32];
          std::snprintf(cells[0], sizeof cells[0], "%.3f", r.mean_abs);
          std::snprintf(cells[1], sizeof cells[1], "%.3f", r.min_abs);
          std::snprintf(cells[2], sizeof cells[2], "%.3f", r.max_abs);
          table.rows.push_back({r.name, std::to_string(r.channels), cells[0], cells[1], cells[2]});
        }
        sections.push_back({"Batch-norm scales",
                            {"With a quantized activation after it, a BN's output has standard deviation about |gamma|: "
                             "set it against the activation's top level."},
                            {table},
                            {}});
      }
      if (!zeros.empty()) {
        HtmlTable table{"share of zeros on " + std::to_string(images) + " test images", {"activation", "zeros"}, {}};
        for (const ActivationZeros& z : zeros) {
          char share[32];
          std::snprintf(share, sizeof share, "%.2f%%", 100.0 * static_cast<double>(z.zeros) / static_cast<double>(z.elements));
          table.rows.push_back({z.layer, share});
        }
        sections.push_back({"Quantized activations", {}, {table}, {}});
      }
      write_file_atomic(html_path, html_report("lowbit-report: " + title, sections));
      std::printf("report page written to %s\n", html_path.c_str());
    }
    return 0;
  });
}
