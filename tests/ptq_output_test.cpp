// What lowbit-ptq writes (apps/ptq/ptq_output.h), from a sweep of the tiny PTQ task: the figures'
// layers and variants, the tables' text, and every file with the confusion figures only at the
// analysis bit widths, a JSON that names the run, and a well-formed report page.
#include "apps/ptq/ptq_output.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/common/html_report.h"
#include "core/check.h"
#include "tests/program_runs.h"
#include "tests/ptq_fixture.h"
#include "tests/temp_root.h"

namespace fs = std::filesystem;
using namespace lowbit;
using testing::read_text;

namespace {

std::vector<std::string> labels(const std::vector<PtqSpec>& specs) {
  std::vector<std::string> out;
  for (const PtqSpec& s : specs) out.push_back(ptq_spec_label(s));
  return out;
}

}  // namespace

TEST_CASE("the figures show the asked layers and each variant they need once", "[ptq]") {
  auto net = testing::row_classifier();
  CHECK(figure_layers(*net, {}) == std::vector<std::string>{"1.weight"});  // the only kernel
  CHECK(figure_layers(*net, {"all"}) == kernel_names(*net));
  CHECK(figure_layers(*net, {"1.weight", "x"}) == std::vector<std::string>{"1.weight", "x"});

  PtqSweepOptions sweep;
  sweep.schemes = {PtqScheme::kSymmetric, PtqScheme::kPow2Free};
  sweep.bits = {8, 4, 2};
  PtqFigures figures{{"1.weight"}, {4}, PtqScheme::kAsymmetric};
  CHECK(labels(figure_variants(sweep, figures)) ==
        std::vector<std::string>{"sym-4", "pow2-free", "asym-8", "asym-4", "asym-2"});
  figures.histogram_scheme = PtqScheme::kSymmetric;  // sym-4 is there already
  CHECK(labels(figure_variants(sweep, figures)) ==
        std::vector<std::string>{"sym-4", "pow2-free", "sym-8", "sym-2"});
  CHECK(at_analysis_bits(PtqSpec{PtqScheme::kSymmetric, 4, Granularity::kScalar}, figures));
  CHECK_FALSE(at_analysis_bits(PtqSpec{PtqScheme::kSymmetric, 8, Granularity::kScalar}, figures));
  CHECK(at_analysis_bits(PtqSpec{PtqScheme::kPow2Free, 0, Granularity::kScalar}, figures));
}

TEST_CASE("write_ptq_output writes the tables, the analysis, the figures and the page", "[ptq]") {
  const Dataset data = testing::rows_dataset();
  BatchLoaderOptions lo;
  lo.batch_size = 16;
  lo.prefetch = 0;
  BatchLoader loader(data, Normalization{{0.5f}, {0.25f}}, lo);
  auto net = testing::row_classifier();
  PtqSweepOptions o;
  o.schemes = {PtqScheme::kAsymmetric, PtqScheme::kPow2Free};
  o.bits = {6, 3};
  o.compression.xz_preset = 0;
  const PtqFigures figures{figure_layers(*net, {}), {3}, PtqScheme::kSymmetric};
  const WeightAnalysis analysis =
      analyse_weights(*net, figure_variants(o, figures), o.targets, figures.layers, 12);
  const PtqSweep plain = run_ptq_sweep(*net, loader, 3, o);
  o.groups = {parse_class_group("top,bottom", data.class_names)};
  const PtqSweep grouped = run_ptq_sweep(*net, loader, 3, o);

  const std::string text = ptq_tables_text(plain);
  for (const char* heading : {"per tensor (Table 1)", "gzip -6, xz -0 (Table 5)", "Table 3c"})
    CHECK(text.find(heading) != std::string::npos);
  CHECK(text.find("Table 2") == std::string::npos);
  CHECK(ptq_tables_text(grouped).find("accuracy with classes grouped (Table 2)\n") !=
        std::string::npos);
  CHECK(text.find(format_text_table(accuracy_table(plain))) != std::string::npos);

  testing::TempRoot root("lowbit_ptq_output_test");
  const fs::path out = root.fresh("out");
  fs::create_directories(out / "confusion");
  const PtqSource source{"run/last.ckpt", "rows-net", "rows", 3, {}, data.class_names, data.size()};
  write_ptq_output(out.string(), source, grouped, analysis, figures);

  CHECK(read_text(out / "ptq.csv") == ptq_csv(grouped));
  CHECK(read_text(out / "levels.csv") == levels_csv(grouped));
  CHECK(read_text(out / "ranges.csv") == ranges_csv(analysis));
  CHECK(read_text(out / "histograms.csv") == histograms_csv(analysis));
  const nlohmann::json j = nlohmann::json::parse(read_text(out / "ptq.json"));
  CHECK(j["checkpoint"] == "run/last.ckpt");
  CHECK(j["model"] == "rows-net");
  CHECK(j["dataset"] == "rows");
  CHECK(j["test_images"] == 60);
  CHECK(j["cells"].size() == 3);
  // Every cell's confusion matrix as CSV; as a figure, the float model's and those at 3 bits.
  for (const std::string cell : {"float", "asym-6", "asym-3", "pow2-free"}) {
    const std::string csv = read_text(out / "confusion" / (cell + ".csv"));
    CHECK(csv.rfind("true\\predicted,", 0) == 0);
  }
  for (const char* cell : {"float", "asym-3", "pow2-free"})
    CHECK(xml_error(read_text(out / "confusion" / (std::string(cell) + ".svg"))) == "");
  CHECK_FALSE(fs::exists(out / "confusion" / "asym-6.svg"));
  for (const char* figure :
       {"ranges-1.weight.svg", "histogram-1.weight.svg", "histogram-1.weight-sym-bits.svg"})
    CHECK(xml_error(read_text(out / figure)) == "");
  const std::string page = read_text(out / "report.html");
  CHECK(xml_error(page) == "");
  for (const char* heading :
       {"Table 1", "Table 2", "Table 5", "Table 3c", "Figure 1", "Figure 2", "Figure 3"})
    CHECK(page.find(heading) != std::string::npos);
  CHECK(page.find(
            "one grid per tensor: convolution and dense kernels, biases, batch norm: affine.") !=
        std::string::npos);

  // An analysis without the variants the figures need is refused by name.
  const WeightAnalysis other = analyse_weights(*net, {}, o.targets, figures.layers, 12);
  CHECK_THROWS_WITH(write_ptq_output(out.string(), source, grouped, other, figures),
                    Catch::Contains("no variant asym-3"));
}
