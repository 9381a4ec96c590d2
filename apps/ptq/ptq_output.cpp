// The files of a lowbit-ptq run: which variants the figures need, the tables as text, and the
// CSV, JSON, SVG and HTML written from a sweep and its weight analysis.
#include "apps/ptq/ptq_output.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/common/html_report.h"
#include "apps/common/text_format.h"
#include "apps/ptq/ptq_plots.h"
#include "apps/train/confusion_report.h"
#include "core/check.h"

namespace lowbit {

namespace fs = std::filesystem;

std::vector<std::string> figure_layers(const Module& model, const std::vector<std::string>& asked) {
  if (asked.empty()) return {default_analysis_layer(model)};
  if (asked.size() == 1 && asked[0] == "all") return kernel_names(model);
  return asked;
}

bool at_analysis_bits(const PtqSpec& spec, const PtqFigures& figures) {
  const std::vector<int>& bits = figures.analysis_bits;
  return spec.scheme == PtqScheme::kPow2Free ||
         std::find(bits.begin(), bits.end(), spec.bits) != bits.end();
}

std::vector<PtqSpec> figure_variants(const PtqSweepOptions& sweep, const PtqFigures& figures) {
  PtqSweepOptions at_analysis = sweep;
  at_analysis.bits = figures.analysis_bits;
  std::vector<PtqSpec> variants = sweep_cells(at_analysis);
  for (int b : sweep.bits) {
    const PtqSpec spec{figures.histogram_scheme, b, sweep.granularity};
    const bool known = std::any_of(variants.begin(), variants.end(), [&](const PtqSpec& v) {
      return ptq_spec_label(v) == ptq_spec_label(spec);
    });
    if (!known) variants.push_back(spec);
  }
  return variants;
}

std::string ptq_tables_text(const PtqSweep& sweep) {
  const CompressionOptions& c = sweep.options.compression;
  std::string text = "\ntest accuracy % (packed size) per scheme and bit width, per " +
                     std::string(ptq_granularity_name(sweep.options.granularity)) + " (Table 1)\n" +
                     format_text_table(accuracy_table(sweep));
  text += "\nmodel size: float32 and packed codes, raw, gzip -" + std::to_string(c.gzip_level) +
          ", xz -" + std::to_string(c.xz_preset) + " (Table 5)\n" +
          format_text_table(compression_table(sweep));
  text +=
      "\ndistinct values per kernel: average bit-levels (ceil log2 of the distinct values, Table "
      "3c)\n" +
      format_text_table(levels_table(sweep));
  if (!sweep.options.groups.empty())
    text += "\naccuracy with classes grouped (Table 2)\n" + format_text_table(grouped_table(sweep));
  return text;
}

namespace {

HtmlTable html_table(const std::string& caption, const TextTable& t) {
  HtmlTable h;
  h.caption = caption;
  if (t.empty()) return h;
  h.header = t.front();
  h.rows.assign(t.begin() + 1, t.end());
  return h;
}

const WeightVariant& find_variant(const WeightAnalysis& a, const std::string& label) {
  for (const WeightVariant& v : a.variants) {
    if (v.label == label) return v;
  }
  throw Error(
      concat("the weight analysis has no variant ", label, "; expected one of figure_variants"));
}

void write(const fs::path& path, const std::string& text) {
  write_file_atomic(path.string(), text);
}

// The tables, the analysis and every confusion matrix as CSV, and the sweep as JSON.
void write_data(const fs::path& out, const PtqSource& source, const PtqSweep& sweep,
                const WeightAnalysis& analysis) {
  write(out / "ptq.csv", ptq_csv(sweep));
  nlohmann::json j = ptq_json(sweep, source.class_names);
  j["checkpoint"] = source.checkpoint;
  j["model"] = source.model;
  j["dataset"] = source.dataset;
  j["test_images"] = source.test_images;
  write(out / "ptq.json", j.dump(2) + "\n");
  write(out / "levels.csv", levels_csv(sweep));
  write(out / "ranges.csv", ranges_csv(analysis));
  write(out / "histograms.csv", histograms_csv(analysis));
  write(out / "confusion" / "float.csv",
        confusion_csv(sweep.baseline.evaluation, source.class_names));
  for (const PtqCell& c : sweep.cells)
    write(out / "confusion" / (c.label + ".csv"), confusion_csv(c.evaluation, source.class_names));
}

struct Figures {
  std::vector<std::string> ranges, histograms, confusion;
};

// Figure 1: per plotted layer, float32 and every variant at the analysis bit widths.
void write_range_figures(const fs::path& out, const WeightAnalysis& analysis,
                         const std::vector<PtqSpec>& variants, const PtqFigures& figures,
                         std::vector<std::string>& svgs) {
  for (size_t l = 0; l < analysis.layers.size(); ++l) {
    const std::string& layer = analysis.layers[l];
    if (std::find(figures.layers.begin(), figures.layers.end(), layer) == figures.layers.end())
      continue;
    std::vector<BoxPanel> panels;
    for (const PtqSpec& v : variants) {
      if (!at_analysis_bits(v, figures)) continue;
      if (panels.empty()) panels.push_back({"float32", find_variant(analysis, "float").ranges[l]});
      panels.push_back({ptq_spec_label(v), find_variant(analysis, ptq_spec_label(v)).ranges[l]});
    }
    const std::string svg =
        svg_box_plots(panels, layer + ": per-channel range (min, quartiles, max)");
    write(out / ("ranges-" + layer + ".svg"), svg);
    svgs.push_back(svg);
  }
}

// Figure 2: per histogram layer, the schemes at the analysis bit widths, and the histogram
// scheme at every bit width of the sweep.
void write_histogram_figures(const fs::path& out, const WeightAnalysis& analysis,
                             const PtqSweepOptions& sweep, const std::vector<PtqSpec>& variants,
                             const PtqFigures& figures, std::vector<std::string>& svgs) {
  const std::string scheme = ptq_scheme_name(figures.histogram_scheme);
  for (size_t l = 0; l < analysis.histogram_layers.size(); ++l) {
    const std::string& layer = analysis.histogram_layers[l];
    std::vector<HistogramPanel> by_scheme = {{"float32", analysis.variants[0].histograms[l]}},
                                by_bits = by_scheme;
    for (const PtqSpec& v : variants) {
      const WeightVariant& found = find_variant(analysis, ptq_spec_label(v));
      if (at_analysis_bits(v, figures)) by_scheme.push_back({found.label, found.histograms[l]});
    }
    for (int b : sweep.bits) {
      const WeightVariant& found = find_variant(
          analysis, ptq_spec_label(PtqSpec{figures.histogram_scheme, b, sweep.granularity}));
      by_bits.push_back({found.label, found.histograms[l]});
    }
    const std::string a = svg_histograms(by_scheme, layer + ": weights per scheme");
    const std::string b = svg_histograms(by_bits, layer + ": " + scheme + " weights per bit width");
    write(out / ("histogram-" + layer + ".svg"), a);
    write(out / ("histogram-" + layer + "-" + scheme + "-bits.svg"), b);
    svgs.push_back(a);
    svgs.push_back(b);
  }
}

// Figure 3: the float model and the cells at the analysis bit widths.
void write_confusion_figures(const fs::path& out, const PtqSweep& sweep, const PtqFigures& figures,
                             const std::vector<std::string>& class_names,
                             std::vector<std::string>& svgs) {
  auto figure = [&](const PtqCell& c) {
    const std::string svg = svg_confusion(c.evaluation.confusion, class_names,
                                          c.label + ": " + fixed(c.evaluation.accuracy, 2) + "%");
    write(out / "confusion" / (c.label + ".svg"), svg);
    svgs.push_back(svg);
  };
  figure(sweep.baseline);
  for (const PtqCell& c : sweep.cells) {
    if (at_analysis_bits(c.spec, figures)) figure(c);
  }
}

std::vector<HtmlSection> report_sections(const PtqSource& source, const PtqSweep& sweep,
                                         const Figures& figures) {
  const PtqSweepOptions& o = sweep.options;
  const std::string granularity = ptq_granularity_name(o.granularity);
  std::vector<HtmlSection> sections;
  HtmlSection run{"Model", {}, {}, {}};
  run.paragraphs.push_back(source.checkpoint + ": " + source.model + " on " + source.dataset +
                           ", " + std::to_string(source.epochs) + " epochs; evaluated on " +
                           std::to_string(source.test_images) + " test images.");
  run.paragraphs.push_back(
      "Quantized without data, one grid per " + granularity + ": convolution and dense kernels" +
      (o.targets.biases ? ", biases" : "") + ", batch norm: " + ptq_bn_name(o.targets.bn) + ".");
  if (!source.history.empty())
    run.figures.push_back(training_curves_svg(source.history, source.model));
  sections.push_back(run);
  sections.push_back(
      {"Accuracy and size (Table 1)",
       {},
       {html_table("test accuracy % (packed size) per " + granularity, accuracy_table(sweep))},
       {}});
  sections.push_back(
      {"Compression (Table 5)",
       {"Sizes of every parameter and buffer: stored as float32 (quantized values kept in float, "
        "as "
        "the paper stores them) or as packed codes with their grids, each raw, gzip -" +
        std::to_string(o.compression.gzip_level) + " and xz -" +
        std::to_string(o.compression.xz_preset) + "."},
       {html_table("model size", compression_table(sweep))},
       {}});
  if (!o.groups.empty()) {
    sections.push_back({"Classes grouped (Table 2)",
                        {},
                        {html_table("accuracy before and after grouping", grouped_table(sweep))},
                        {}});
  }
  sections.push_back(
      {"Distinct levels (Table 3c)",
       {"Bit-levels of a kernel: ceil(log2(distinct values)); averaged over the kernels."},
       {html_table("average bit-levels", levels_table(sweep))},
       {}});
  sections.push_back({"Per-channel ranges (Figure 1)", {}, {}, figures.ranges});
  sections.push_back({"Histograms (Figure 2)", {}, {}, figures.histograms});
  sections.push_back({"Confusion matrices (Figure 3)", {}, {}, figures.confusion});
  return sections;
}

}  // namespace

void write_ptq_output(const std::string& out_dir, const PtqSource& source, const PtqSweep& sweep,
                      const WeightAnalysis& analysis, const PtqFigures& figures) {
  const fs::path out(out_dir);
  write_data(out, source, sweep, analysis);
  const std::vector<PtqSpec> variants = figure_variants(sweep.options, figures);
  Figures svgs;
  write_range_figures(out, analysis, variants, figures, svgs.ranges);
  write_histogram_figures(out, analysis, sweep.options, variants, figures, svgs.histograms);
  write_confusion_figures(out, sweep, figures, source.class_names, svgs.confusion);
  write(out / "report.html", html_report("lowbit-ptq: " + source.model + " on " + source.dataset,
                                         report_sections(source, sweep, svgs)));
}

}  // namespace lowbit
