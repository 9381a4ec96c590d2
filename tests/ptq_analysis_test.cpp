// The quantization analysis (apps/ptq/ptq_analysis.h): quartiles by hand, histograms with their
// end bins, bit-levels, class groups and grouped accuracy from a confusion matrix, level
// summaries and the weight analysis that leaves the model as it found it.
#include "apps/ptq/ptq_analysis.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>

#include "core/check.h"
#include "core/rng.h"
#include "layers/linear.h"
#include "layers/sequential.h"

using namespace lowbit;

namespace {

const std::vector<std::string> kCifar = {"airplane", "automobile", "bird",  "cat",  "deer",
                                         "dog",      "frog",       "horse", "ship", "truck"};

std::shared_ptr<Sequential> two_linear(uint64_t seed) {
  Rng rng(seed);
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Linear>(8, 6, true, rng))
      .add(std::make_shared<Linear>(6, 3, true, rng));
  return net;
}

}  // namespace

TEST_CASE("five numbers interpolate between order statistics", "[ptq]") {
  const FiveNumbers a = five_numbers({5, 1, 4, 2, 3});
  CHECK(a.min == 1);
  CHECK(a.q1 == 2);
  CHECK(a.median == 3);
  CHECK(a.q3 == 4);
  CHECK(a.max == 5);
  const FiveNumbers b = five_numbers({4, 1, 3, 2});  // positions 0.75, 1.5, 2.25
  CHECK(b.q1 == 1.75);
  CHECK(b.median == 2.5);
  CHECK(b.q3 == 3.25);
  const FiveNumbers c = five_numbers({7});
  CHECK((c.min == 7 && c.q1 == 7 && c.median == 7 && c.q3 == 7 && c.max == 7));
  CHECK_THROWS_WITH(five_numbers({}), Catch::Contains("no values"));

  const Tensor t = Tensor::from_vector({2, 3}, {3, 1, 2, -1, -3, -2});
  const std::vector<FiveNumbers> r = channel_ranges(t);
  REQUIRE(r.size() == 2);
  CHECK(r[0].median == 2);
  CHECK(r[1].min == -3);
  CHECK(r[1].max == -1);
}

TEST_CASE("histograms count into equal bins and clamp to the end bins", "[ptq]") {
  const std::vector<float> x = {-1.0f, -0.5f, 0.0f, 0.49f, 0.5f, 2.0f, -7.0f};
  const Histogram h = histogram(x.data(), 7, -1, 1, 4);
  CHECK(h.counts == std::vector<int64_t>{2, 1, 2, 2});
  CHECK_THROWS_WITH(histogram(x.data(), 7, 1, 1, 4), Catch::Contains("non-empty range"));
}

TEST_CASE("bit-levels are ceil(log2(distinct values))", "[ptq]") {
  CHECK(bit_levels(1) == 0);
  CHECK(bit_levels(2) == 1);
  CHECK(bit_levels(3) == 2);
  CHECK(bit_levels(4) == 2);
  CHECK(bit_levels(5) == 3);
  CHECK(bit_levels(23) == 5);
  auto net = two_linear(3);
  const PtqModelResult q =
      ptq_quantize_model(*net, PtqSpec{PtqScheme::kSymmetric, 2, Granularity::kScalar}, {});
  const LevelSummary s = level_summary(q);
  REQUIRE(s.layers.size() == 2);  // kernels only
  for (const LayerLevels& l : s.layers) {
    CHECK(l.distinct <= 3);
    CHECK(l.bit_levels == bit_levels(l.distinct));
  }
  CHECK(s.average_bit_levels == Approx((s.layers[0].bit_levels + s.layers[1].bit_levels) / 2.0));
  CHECK(s.weighted_bit_levels ==
        Approx((48.0 * s.layers[0].bit_levels + 18.0 * s.layers[1].bit_levels) / 66));
}

TEST_CASE("class groups parse by name or index and must not overlap", "[ptq]") {
  const ClassGroup g = parse_class_group("cat,dog", kCifar);
  CHECK(g.name == "cat+dog");
  CHECK(g.classes == std::vector<int64_t>{3, 5});
  CHECK(parse_class_group("1,9", kCifar).name == "automobile+truck");
  CHECK_THROWS_WITH(parse_class_group("cat,wolf", kCifar),
                    Catch::Contains("'wolf'") && Catch::Contains("airplane, automobile"));
  CHECK_THROWS_WITH(parse_class_group("cat", kCifar), Catch::Contains("at least two classes"));
  CHECK_THROWS_WITH(parse_class_group("cat,cat", kCifar), Catch::Contains("twice"));
  CHECK_THROWS_WITH(check_disjoint({g, parse_class_group("dog,deer", kCifar)}),
                    Catch::Contains("more than one group"));
}

TEST_CASE("grouped accuracy counts confusions inside a group as right", "[ptq]") {
  Evaluation e;
  e.num_classes = 3;
  e.count = 26;
  e.confusion = {5, 2, 1,   // true 0
                 2, 6, 0,   // true 1
                 0, 1, 9};  // true 2
  const ClassGroup g{"a+b", {0, 1}};
  const GroupedAccuracy a = grouped_accuracy(e, {g});
  CHECK(a.accuracy == Approx(100.0 * 24 / 26));  // 5 + 2 + 2 + 6 inside the group, 9 outside
  REQUIRE(a.group_accuracy.size() == 1);
  CHECK(a.group_accuracy[0] == Approx(100.0 * 15 / 16));
  CHECK(grouped_accuracy(e, {}).accuracy == Approx(100.0 * 20 / 26));  // no groups: plain accuracy
}

TEST_CASE("the weight analysis measures every variant and restores the model", "[ptq]") {
  auto net = two_linear(4);
  const std::vector<Parameter> before = net->parameters();
  const std::vector<float> w0(before[0].tensor.data(), before[0].tensor.data() + 48);
  const std::vector<PtqSpec> specs = {{PtqScheme::kSymmetric, 2, Granularity::kScalar},
                                      {PtqScheme::kPow2Free, 0, Granularity::kScalar}};
  CHECK(default_analysis_layer(*net) == "1.weight");  // fewer than 9 kernels: the middle one
  const WeightAnalysis a = analyse_weights(*net, specs, {}, {"0.weight"}, 16);
  CHECK(a.layers == std::vector<std::string>{"0.weight", "1.weight"});
  REQUIRE(a.variants.size() == 3);
  CHECK(a.variants[0].label == "float");
  CHECK(a.variants[1].label == "sym-2");
  CHECK(a.variants[2].label == "pow2-free");
  CHECK(a.variants[0].ranges[0].size() == 6);  // six output channels
  for (const WeightVariant& v : a.variants) {
    int64_t total = 0;
    for (int64_t c : v.histograms[0].counts) total += c;
    CHECK(total == 48);
  }
  // Ternary weights: at most three non-empty bins.
  int nonempty = 0;
  for (int64_t c : a.variants[1].histograms[0].counts) nonempty += c > 0;
  CHECK(nonempty <= 3);
  CHECK(std::vector<float>(before[0].tensor.data(), before[0].tensor.data() + 48) == w0);
  // CSV: one line per variant, kernel and channel; one per variant and bin.
  const std::string ranges = ranges_csv(a), hist = histograms_csv(a);
  CHECK(ranges.rfind("variant,layer,channel,min,q1,median,q3,max\n", 0) == 0);
  CHECK(std::count(ranges.begin(), ranges.end(), '\n') == 1 + 3 * (6 + 3));
  CHECK(ranges.find("\nsym-2,1.weight,2,") != std::string::npos);
  CHECK(hist.rfind("variant,layer,bin_lo,bin_hi,count\n", 0) == 0);
  CHECK(std::count(hist.begin(), hist.end(), '\n') == 1 + 3 * 16);
  CHECK_THROWS_WITH(analyse_weights(*net, specs, {}, {"conv9.weight"}, 16),
                    Catch::Contains("'conv9.weight'") && Catch::Contains("0.weight, 1.weight"));
}
