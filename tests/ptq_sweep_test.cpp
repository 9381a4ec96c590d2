// The sweep (apps/ptq/ptq_sweep.h) on a tiny model and an in-memory data set: the cells in
// table order, the float baseline equal to a plain evaluation, 8 bits close to float, the
// model restored afterwards, and the tables, CSV and JSON in their documented shapes.
#include "apps/ptq/ptq_sweep.h"

#include <catch2/catch.hpp>
#include <memory>

#include "core/check.h"
#include "tests/ptq_fixture.h"

using namespace lowbit;
using testing::row_classifier;
using testing::rows_dataset;

TEST_CASE("a sweep evaluates the float model and every cell from the same float values", "[ptq]") {
  const Dataset data = rows_dataset();
  BatchLoaderOptions lo;
  lo.batch_size = 16;
  lo.prefetch = 0;
  BatchLoader loader(data, Normalization{{0.5f}, {0.25f}}, lo);
  auto net = row_classifier();
  const std::vector<float> before(net->parameters()[0].tensor.data(),
                                  net->parameters()[0].tensor.data() + 48);
  const Evaluation plain = evaluate(*net, loader, 3);

  PtqSweepOptions o;
  o.schemes = {PtqScheme::kSymmetric, PtqScheme::kPow2, PtqScheme::kPow2Free};
  o.bits = {8, 2};
  o.groups = {parse_class_group("top,middle", data.class_names)};
  o.compression.xz_preset = 0;
  std::vector<std::string> seen;
  const PtqSweep s =
      run_ptq_sweep(*net, loader, 3, o, [&](size_t done, size_t total, const PtqCell& c) {
        CHECK(total == 5);
        CHECK(done == seen.size());
        seen.push_back(c.label);
      });
  CHECK(seen ==
        std::vector<std::string>{"float", "sym-8", "sym-2", "pow2-8", "pow2-2", "pow2-free"});
  CHECK(s.baseline.evaluation.accuracy == plain.accuracy);
  CHECK(s.baseline.evaluation.confusion == plain.confusion);
  REQUIRE(s.cells.size() == 5);
  CHECK(s.cells[0].evaluation.accuracy == Approx(plain.accuracy).margin(5.0));
  CHECK(s.cells[0].quantized_values == 51);  // weight and bias
  CHECK(s.cells[1].size.packed_bytes < s.cells[0].size.packed_bytes);
  CHECK(s.cells[0].size.packed_bytes < s.baseline.size.float_bytes);
  CHECK(s.baseline.grouped.accuracy >= s.baseline.evaluation.accuracy);
  CHECK(s.cells[4].levels.layers.size() == 1);
  CHECK(s.cells[4].levels.average_bit_levels >= 1);
  // The float model is back.
  CHECK(std::vector<float>(net->parameters()[0].tensor.data(),
                           net->parameters()[0].tensor.data() + 48) == before);

  const TextTable acc = accuracy_table(s);
  REQUIRE(acc.size() == 4);
  CHECK(acc[0] == std::vector<std::string>{"accuracy % (packed size)", "FP-32", "8-bit", "2-bit"});
  CHECK(acc[1][0] == "sym");
  CHECK(acc[1].size() == 4);
  CHECK(acc[3][0] == "pow2-free");
  CHECK(acc[3].size() == 3);
  CHECK(acc[3][2].find("avg bit-levels") != std::string::npos);
  CHECK(compression_table(s).size() == 7);
  CHECK(grouped_table(s)[0][2] == "grouped (top+middle) %");
  CHECK(levels_table(s).size() == 6);
  const std::string text = format_text_table(acc);
  CHECK(text.find("FP-32") != std::string::npos);

  const std::string csv = ptq_csv(s);
  CHECK(csv.rfind("scheme,granularity,bits,accuracy,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 7);
  CHECK(csv.find("\nfloat,tensor,32,") != std::string::npos);
  CHECK(csv.find("\npow2-free,tensor,0,") != std::string::npos);
  CHECK(levels_csv(s).find("sym,2,1.weight,48,") != std::string::npos);
  const nlohmann::json j = ptq_json(s, data.class_names);
  CHECK(j["cells"].size() == 5);
  CHECK(j["baseline"]["confusion"].size() == 9);
  CHECK(j["cells"][1]["label"] == "sym-2");
  CHECK(j["groups"][0]["name"] == "top+middle");
  CHECK(j["baseline"]["size"]["float_bytes"] == 51 * 4);

  o.bits = {1};
  CHECK_THROWS_WITH(run_ptq_sweep(*net, loader, 3, o), Catch::Contains("bit width 1"));
}
