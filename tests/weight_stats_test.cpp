// Float weight statistics: exact moments, non-zero share and histogram on weights set by hand,
// the layers a grid model keeps in float, and the table, CSV and SVG forms.
#include "apps/train/weight_stats.h"

#include <catch2/catch.hpp>
#include <numeric>

#include "layers/linear.h"
#include "layers/sequential.h"

using namespace lowbit;

namespace {

// Two linear layers: "first" (2, 4) with the given weights and "second" (1, 2) at 0.5.
std::shared_ptr<Sequential> two_layers(const std::vector<float>& first) {
  Rng rng(1);
  auto net = std::make_shared<Sequential>();
  net->add("first", std::make_shared<Linear>(4, 2, true, rng))
      .add("second", std::make_shared<Linear>(2, 1, false, rng));
  const std::vector<Parameter> params = net->parameters();
  std::copy(first.begin(), first.end(), params[0].tensor.data());
  params[2].tensor.data()[0] = params[2].tensor.data()[1] = 0.5f;
  return net;
}

}  // namespace

TEST_CASE(
    "weight statistics: min, max, mean, std, non-zeros and a histogram over [-max|w|, max|w|]",
    "[report]") {
  const auto net = two_layers({-2.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 1.0f, 2.0f});
  const std::vector<WeightStats> stats = weight_stats(*net, {});
  REQUIRE(stats.size() == 2);  // biases are not weights
  const WeightStats& s = stats[0];
  CHECK(s.name == "first.weight");
  CHECK(s.elements == 8);
  CHECK(s.nonzero == 6);
  CHECK(s.min == -2.0);
  CHECK(s.max == 2.0);
  CHECK(s.mean == 0.5);
  // Deviations -2.5, -0.5 x2, 0.5 x4, 1.5: squares 6.25 + 0.5 + 1 + 2.25 = 10, / 8.
  CHECK(s.std == Approx(std::sqrt(10.0 / 8.0)));
  CHECK(s.range == 2.0);
  REQUIRE(s.histogram.size() == static_cast<size_t>(kWeightHistogramBins));
  CHECK(std::accumulate(s.histogram.begin(), s.histogram.end(), int64_t{0}) == 8);
  CHECK(s.histogram.front() == 1);                    // -2
  CHECK(s.histogram[kWeightHistogramBins / 2] == 2);  // the zeros, in the middle bin of 41
  CHECK(s.histogram[30] == 4);                        // 1.0: (1 + 2) / 4 * 41 = 30.75
  CHECK(s.histogram.back() == 1);                     // the top edge, 2, in the last bin
  CHECK(stats[1].std == 0.0);
  CHECK(stats[1].histogram.back() == 2);

  // A grid model's grid layers are left out: only its float layers get statistics.
  const std::vector<WeightStats> float_only = weight_stats(*net, {"second.weight"});
  REQUIRE(float_only.size() == 1);
  CHECK(float_only[0].name == "first.weight");

  const std::string table = format_weight_stats(stats);
  CHECK(table.find("first.weight") != std::string::npos);
  CHECK(table.find("75.00%") != std::string::npos);
  const std::string csv = weight_stats_csv(stats);
  CHECK(csv.rfind("layer,shape,elements,nonzero_fraction,min,max,mean,std\n", 0) == 0);
  CHECK(csv.find("first.weight,2x4,8,0.750000,-2,2,0.5,1.11803\n") != std::string::npos);
  const std::string svg = weight_histograms_svg(stats, "weights");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("second.weight") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
}
