// lowbit-ptq: data-free post-training quantization of a trained checkpoint (Nayak, Zhang and
// Chai, "Bit Efficient Quantization for Deep Neural Networks"): every scheme at every bit
// width, evaluated on the test set, with sizes (Tables 1 and 5), class grouping (Table 2),
// per-channel ranges and histograms (Figures 1 and 2), confusion matrices (Figure 3) and one
// HTML page. No data is read to quantize; the test set is only for evaluation.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "apps/common/cli_main.h"
#include "apps/common/text_format.h"
#include "apps/train/confusion_report.h"
#include "apps/train/evaluate.h"
#include "apps/common/html_report.h"
#include "apps/ptq/ptq_analysis.h"
#include "apps/ptq/ptq_plots.h"
#include "apps/ptq/ptq_sweep.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "core/check.h"
#include "core/parallel.h"
#include "data/datasets.h"
#include "data/split.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

HtmlTable html_table(const std::string& caption, const TextTable& t) {
  HtmlTable h;
  h.caption = caption;
  if (t.empty()) return h;
  h.header = t.front();
  h.rows.assign(t.begin() + 1, t.end());
  return h;
}

const WeightVariant* find_variant(const WeightAnalysis& a, const std::string& label) {
  for (const WeightVariant& v : a.variants) {
    if (v.label == label) return &v;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "lowbit-ptq: data-free post-training quantization sweep of a lowbit-train checkpoint: "
      "accuracy, size, "
      "compression, ranges, histograms, confusion matrices and an HTML report"};
  std::string checkpoint, data_dir, out_dir, granularity = "tensor", bn = "affine",
                                             histogram_scheme = "sym";
  std::vector<std::string> scheme_names = {"asym", "sym", "pow2", "pow2-free"}, merge, layers;
  std::vector<int> bits = {8, 7, 6, 5, 4, 3, 2}, analysis_bits = {3};
  bool skip_bias = false, no_compress = false;
  int gzip_level = 6, xz_preset = 6, bins = 81, threads = 0;
  int64_t batch_size = 256, test_subset = 0;
  app.add_option("--checkpoint", checkpoint, "a checkpoint written by lowbit-train")->required();
  app.add_option(
      "--data-dir", data_dir,
      "test data directory (default: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>)");
  app.add_option("--out", out_dir,
                 "output directory (default: ptq-<granularity> beside the checkpoint)");
  app.add_option("--schemes", scheme_names,
                 "schemes, comma-separated: asym, sym, pow2 (n-bit exponent range), pow2-free (the "
                 "paper's unbounded power-of-two)")
      ->delimiter(',');
  app.add_option("--bits", bits, "bit widths to sweep, comma-separated (2..16)")->delimiter(',');
  app.add_option("--granularity", granularity, "one grid per tensor or per output channel")
      ->check(CLI::IsMember({"tensor", "channel"}));
  app.add_option("--bn", bn,
                 "batch-norm tensors to quantize: none, affine (scale and shift), all (also "
                 "running mean and variance)")
      ->check(CLI::IsMember({"none", "affine", "all"}));
  app.add_flag("--skip-bias", skip_bias, "keep convolution and dense biases in float");
  app.add_option("--merge-classes", merge,
                 "classes scored as one (Table 2), e.g. cat,dog; repeat for more groups");
  app.add_option("--analysis-bits", analysis_bits,
                 "bit widths of the range plots, histograms and confusion plots")
      ->delimiter(',');
  app.add_option(
         "--layers", layers,
         "kernels to plot (comma-separated names, or all; default: the 9th kernel, as Figure 1)")
      ->delimiter(',');
  app.add_option("--histogram-scheme", histogram_scheme,
                 "scheme whose histograms are drawn at every bit width (Figure 2, right)")
      ->check(CLI::IsMember({"asym", "sym", "pow2"}));
  app.add_option("--bins", bins, "histogram bins")->check(CLI::Range(2, 10000));
  app.add_flag("--no-compress", no_compress, "skip the gzip and xz sizes");
  app.add_option("--gzip-level", gzip_level, "zlib level of the gzip sizes (gzip's default 6)")
      ->check(CLI::Range(1, 9));
  app.add_option("--xz-preset", xz_preset, "preset of the xz sizes (xz's default 6)")
      ->check(CLI::Range(0, 9));
  app.add_option("--test-subset", test_subset,
                 "evaluate on N test images, every class alike (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}));
  app.add_option("--batch-size", batch_size, "images per batch")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app.add_option("--threads", threads, "threads (0: one per core)")->check(CLI::Range(0, 1024));
  return run_cli(app, argc, argv, "lowbit-ptq", [&]() -> int {
    set_num_threads(threads);
    PtqSweepOptions options;
    options.schemes.clear();
    for (const std::string& name : scheme_names) options.schemes.push_back(parse_ptq_scheme(name));
    LOWBIT_CHECK(!options.schemes.empty(), "--schemes: name at least one scheme");
    options.bits = bits;
    options.granularity = parse_ptq_granularity(granularity);
    options.targets.biases = !skip_bias;
    options.targets.bn = parse_ptq_bn(bn);
    options.compression.enabled = !no_compress;
    options.compression.gzip_level = gzip_level;
    options.compression.xz_preset = static_cast<uint32_t>(xz_preset);
    for (int b : bits) validate(PtqSpec{PtqScheme::kSymmetric, b, options.granularity});
    for (int b : analysis_bits) validate(PtqSpec{PtqScheme::kSymmetric, b, options.granularity});

    TrainedModel trained = load_trained_model(checkpoint);
    TrainConfig& config = trained.config;
    const DatasetInfo& info = dataset_info(config.dataset);
    Module& model = *trained.model;
    if (out_dir.empty())
      out_dir = (fs::path(checkpoint).parent_path() / ("ptq-" + granularity)).string();
    fs::create_directories(fs::path(out_dir) / "confusion");

    // Figures' layers and variants are checked before the long part.
    std::vector<std::string> plot_layers = layers;
    if (plot_layers.empty()) plot_layers = {default_analysis_layer(model)};
    if (plot_layers.size() == 1 && plot_layers[0] == "all") plot_layers = kernel_names(model);
    std::vector<PtqSpec> variants;
    for (PtqScheme s : options.schemes) {
      if (s == PtqScheme::kPow2Free) {
        variants.push_back(PtqSpec{s, 0, options.granularity});
        continue;
      }
      for (int b : analysis_bits) variants.push_back(PtqSpec{s, b, options.granularity});
    }
    const PtqScheme hist_scheme = parse_ptq_scheme(histogram_scheme);
    for (int b : bits) {
      const PtqSpec spec{hist_scheme, b, options.granularity};
      const bool known = std::any_of(variants.begin(), variants.end(), [&](const PtqSpec& v) {
        return ptq_spec_label(v) == ptq_spec_label(spec);
      });
      if (!known) variants.push_back(spec);
    }
    const WeightAnalysis analysis =
        analyse_weights(model, variants, options.targets, plot_layers, bins);

    const std::string dir =
        resolve_data_dir(config.dataset, data_dir.empty() ? config.data_dir : data_dir);
    Dataset test = load_dataset(config.dataset, dir).test;
    if (test_subset > 0) test = take_first(interleave_classes(test), test_subset);
    for (const std::string& m : merge)
      options.groups.push_back(parse_class_group(m, test.class_names));
    check_disjoint(options.groups);
    std::printf("%s: %s on %s after %d epochs; %lld test images from %s\n", checkpoint.c_str(),
                config.model.c_str(), config.dataset.c_str(), trained.progress.epochs_done,
                static_cast<long long>(test.size()), dir.c_str());
    std::printf("quantizing per %s: kernels%s%s; %zu cells\n", granularity.c_str(),
                skip_bias ? "" : ", biases",
                options.targets.bn == PtqBn::kNone ? ""
                : options.targets.bn == PtqBn::kAffine
                    ? ", BN scale and shift"
                    : ", BN scale, shift, running mean and variance",
                sweep_cells(options).size());
    std::fflush(stdout);

    const auto loader = make_eval_loader(test, batch_size, info);
    const PtqSweep sweep = run_ptq_sweep(
        model, *loader, info.num_classes, options, [](size_t done, size_t total, const PtqCell& c) {
          std::fprintf(stderr, "lowbit-ptq: [%zu/%zu] %-10s %6.2f%%  (%.1f s)\n", done, total,
                       c.label.c_str(), c.evaluation.accuracy, c.seconds);
        });

    const TextTable accuracy = accuracy_table(sweep), compression = compression_table(sweep),
                    levels = levels_table(sweep), grouped = grouped_table(sweep);
    std::printf("\ntest accuracy %% (packed size) per scheme and bit width, per %s (Table 1)\n%s",
                granularity.c_str(), format_text_table(accuracy).c_str());
    std::printf("\nmodel size: float32 and packed codes, raw, gzip -%d, xz -%d (Table 5)\n%s",
                gzip_level, xz_preset, format_text_table(compression).c_str());
    std::printf(
        "\ndistinct values per kernel: average bit-levels (ceil log2 of the distinct values, Table "
        "3c)\n%s",
        format_text_table(levels).c_str());
    if (!options.groups.empty()) {
      std::printf("\naccuracy with classes grouped (Table 2)\n%s",
                  format_text_table(grouped).c_str());
    }

    // Files: tables, analysis, figures, report.
    const fs::path out(out_dir);
    write_file_atomic((out / "ptq.csv").string(), ptq_csv(sweep));
    nlohmann::json j = ptq_json(sweep, test.class_names);
    j["checkpoint"] = checkpoint;
    j["model"] = config.model;
    j["dataset"] = config.dataset;
    j["test_images"] = test.size();
    write_file_atomic((out / "ptq.json").string(), j.dump(2) + "\n");
    write_file_atomic((out / "levels.csv").string(), levels_csv(sweep));
    write_file_atomic((out / "ranges.csv").string(), ranges_csv(analysis));
    write_file_atomic((out / "histograms.csv").string(), histograms_csv(analysis));
    write_file_atomic((out / "confusion" / "float.csv").string(),
                      confusion_csv(sweep.baseline.evaluation, test.class_names));
    for (const PtqCell& c : sweep.cells) {
      write_file_atomic((out / "confusion" / (c.label + ".csv")).string(),
                        confusion_csv(c.evaluation, test.class_names));
    }

    std::vector<std::string> range_figures, histogram_figures, confusion_figures;
    for (size_t l = 0; l < analysis.layers.size(); ++l) {
      const std::string& layer = analysis.layers[l];
      if (std::find(plot_layers.begin(), plot_layers.end(), layer) == plot_layers.end()) continue;
      std::vector<BoxPanel> panels;
      for (const PtqSpec& v : variants) {
        if (v.scheme != PtqScheme::kPow2Free &&
            std::find(analysis_bits.begin(), analysis_bits.end(), v.bits) == analysis_bits.end()) {
          continue;
        }
        if (panels.empty())
          panels.push_back({"float32", find_variant(analysis, "float")->ranges[l]});
        panels.push_back({ptq_spec_label(v), find_variant(analysis, ptq_spec_label(v))->ranges[l]});
      }
      const std::string svg =
          svg_box_plots(panels, layer + ": per-channel range (min, quartiles, max)");
      write_file_atomic((out / ("ranges-" + layer + ".svg")).string(), svg);
      range_figures.push_back(svg);
    }
    for (size_t l = 0; l < analysis.histogram_layers.size(); ++l) {
      const std::string& layer = analysis.histogram_layers[l];
      std::vector<HistogramPanel> by_scheme = {{"float32", analysis.variants[0].histograms[l]}},
                                  by_bits = by_scheme;
      for (const PtqSpec& v : variants) {
        const WeightVariant* found = find_variant(analysis, ptq_spec_label(v));
        const bool at_analysis_bits =
            v.scheme == PtqScheme::kPow2Free ||
            std::find(analysis_bits.begin(), analysis_bits.end(), v.bits) != analysis_bits.end();
        if (at_analysis_bits) by_scheme.push_back({found->label, found->histograms[l]});
      }
      for (int b : bits) {
        const WeightVariant* found =
            find_variant(analysis, ptq_spec_label(PtqSpec{hist_scheme, b, options.granularity}));
        by_bits.push_back({found->label, found->histograms[l]});
      }
      const std::string a = svg_histograms(by_scheme, layer + ": weights per scheme");
      const std::string b =
          svg_histograms(by_bits, layer + ": " + histogram_scheme + " weights per bit width");
      write_file_atomic((out / ("histogram-" + layer + ".svg")).string(), a);
      write_file_atomic(
          (out / ("histogram-" + layer + "-" + histogram_scheme + "-bits.svg")).string(), b);
      histogram_figures.push_back(a);
      histogram_figures.push_back(b);
    }
    auto confusion_figure = [&](const PtqCell& c) {
      const std::string svg = svg_confusion(c.evaluation.confusion, test.class_names,
                                            c.label + ": " + fixed(c.evaluation.accuracy, 2) + "%");
      write_file_atomic((out / "confusion" / (c.label + ".svg")).string(), svg);
      confusion_figures.push_back(svg);
    };
    confusion_figure(sweep.baseline);
    for (const PtqCell& c : sweep.cells) {
      if (c.spec.scheme == PtqScheme::kPow2Free ||
          std::find(analysis_bits.begin(), analysis_bits.end(), c.spec.bits) !=
              analysis_bits.end()) {
        confusion_figure(c);
      }
    }

    std::vector<HtmlSection> sections;
    HtmlSection run{"Model", {}, {}, {}};
    run.paragraphs.push_back(checkpoint + ": " + config.model + " on " + config.dataset + ", " +
                             std::to_string(trained.progress.epochs_done) +
                             " epochs; evaluated on " + std::to_string(test.size()) +
                             " test images.");
    run.paragraphs.push_back("Quantized without data, one grid per " + granularity +
                             ": convolution and dense kernels" + (skip_bias ? "" : ", biases") +
                             ", batch norm: " + bn + ".");
    if (!trained.progress.history.empty())
      run.figures.push_back(training_curves_svg(trained.progress.history, config.model));
    sections.push_back(run);
    sections.push_back({"Accuracy and size (Table 1)",
                        {},
                        {html_table("test accuracy % (packed size) per " + granularity, accuracy)},
                        {}});
    sections.push_back(
        {"Compression (Table 5)",
         {"Sizes of every parameter and buffer: stored as float32 (quantized values kept in float, "
          "as "
          "the paper stores them) or as packed codes with their grids, each raw, gzip -" +
          std::to_string(gzip_level) + " and xz -" + std::to_string(xz_preset) + "."},
         {html_table("model size", compression)},
         {}});
    if (!options.groups.empty()) {
      sections.push_back({"Classes grouped (Table 2)",
                          {},
                          {html_table("accuracy before and after grouping", grouped)},
                          {}});
    }
    sections.push_back(
        {"Distinct levels (Table 3c)",
         {"Bit-levels of a kernel: ceil(log2(distinct values)); averaged over the kernels."},
         {html_table("average bit-levels", levels)},
         {}});
    sections.push_back({"Per-channel ranges (Figure 1)", {}, {}, range_figures});
    sections.push_back({"Histograms (Figure 2)", {}, {}, histogram_figures});
    sections.push_back({"Confusion matrices (Figure 3)", {}, {}, confusion_figures});
    write_file_atomic(
        (out / "report.html").string(),
        html_report("lowbit-ptq: " + config.model + " on " + config.dataset, sections));
    std::printf(
        "\nwritten to %s: ptq.csv, ptq.json, levels.csv, ranges.csv, histograms.csv, confusion/, "
        "*.svg, report.html\n",
        out_dir.c_str());
    return 0;
  });
}
