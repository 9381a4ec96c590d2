// The weight report: exact level counts, non-zero shares and off-grid counts on weights
// set by hand, and its CSV form.
#include "apps/train/weight_report.h"

#include <catch2/catch.hpp>

#include "layers/batch_norm.h"
#include "layers/linear.h"
#include "layers/quant/pow2_activation.h"
#include "layers/sequential.h"

using namespace lowbit;

TEST_CASE("grid levels run from -1 to 1 through zero", "[report]") {
  DstSpec spec;
  spec.min_exp = -2;
  CHECK(grid_levels(spec) == std::vector<double>{-1, -0.5, -0.25, 0, 0.25, 0.5, 1});
  spec.min_exp = -1;
  CHECK(grid_levels(spec) == std::vector<double>{-1, -0.5, 0, 0.5, 1});
}

TEST_CASE("the weight report counts every level and everything off the grid", "[report]") {
  Rng rng(1);
  auto net = std::make_shared<Sequential>();
  auto a = std::make_shared<Linear>(4, 2, true, rng);   // weight (2, 4): 8 elements
  auto b = std::make_shared<Linear>(2, 1, false, rng);  // weight (1, 2)
  net->add(a).add(b);
  const std::vector<Parameter> params = net->parameters();
  const std::vector<float> first = {0.0f, 0.125f, -0.5f, 1.0f, 0.3f, -0.0625f, -1.0f, 0.0f};
  std::copy(first.begin(), first.end(), params[0].tensor.data());
  params[2].tensor.data()[0] = 0.25f;
  params[2].tensor.data()[1] = 0.25f;
  DstSpec spec;
  spec.min_exp = -3;
  const WeightReport r = weight_report(*net, spec);
  REQUIRE(r.layers.size() == 2);  // biases are not weights
  CHECK(r.layers[0].name == "0.weight");
  CHECK(r.layers[0].elements == 8);
  CHECK(r.layers[0].nonzero == 6);
  CHECK(r.layers[0].off_grid == 2);  // 0.3 and -0.0625 (below 2^-3)
  //                                      -1 -.5 -.25 -.125 0 .125 .25 .5 1
  CHECK(r.layers[0].level_counts == std::vector<int64_t>{1, 1, 0, 0, 2, 1, 0, 0, 1});
  CHECK(r.layers[1].level_counts == std::vector<int64_t>{0, 0, 0, 0, 0, 0, 2, 0, 0});
  CHECK(r.layers[1].nonzero_fraction() == 1.0);
  CHECK(r.total.elements == 10);
  CHECK(r.total.nonzero == 8);
  CHECK(r.total.off_grid == 2);
  CHECK(r.total.nonzero_fraction() == Approx(0.8));
  const std::string csv = weight_report_csv(r);
  CHECK(csv.rfind("layer,shape,elements,nonzero_fraction,off_grid,-1,-0.5,-0.25,-0.125,0,0.125,0."
                  "25,0.5,1\n",
                  0) == 0);
  CHECK(csv.find("0.weight,2x4,8,0.750000,2,1,1,0,0,2,1,0,0,1\n") != std::string::npos);
  CHECK(csv.find("total,,10,0.800000,2,") != std::string::npos);
  CHECK(format_weight_report(r).find("75.00%") != std::string::npos);

  // The same model with its first layer in float: marked float, no level counts, nothing off the
  // grid.
  const WeightReport marked = weight_report(*net, spec, {"0.weight"});
  CHECK(marked.layers[0].is_float);
  CHECK(marked.layers[0].off_grid == 0);
  CHECK(marked.layers[0].level_counts == std::vector<int64_t>(9, 0));
  CHECK(marked.layers[0].nonzero == 6);
  CHECK(marked.total.off_grid == 0);
  CHECK(marked.total.nonzero == 8);
  CHECK(weight_report_csv(marked).find("0.weight,2x4,8,0.750000,float,,,,,,,,,\n") !=
        std::string::npos);
  const std::string text = format_weight_report(marked);
  CHECK(text.find("float") != std::string::npos);
}

TEST_CASE("the batch-norm scale report gives mean, min and max |gamma| of every BN", "[report]") {
  Rng rng(2);
  auto net = std::make_shared<Sequential>();
  auto bn = std::make_shared<BatchNorm>(4);
  net->add(std::make_shared<Linear>(3, 4, false, rng)).add(bn);
  const std::vector<float> gamma = {0.5f, -2.0f, 1.0f, 0.25f};
  std::copy(gamma.begin(), gamma.end(), bn->weight().data());
  const std::vector<NormScaleReport> r = norm_scale_report(*net);
  REQUIRE(r.size() == 1);
  CHECK(r[0].name == "1.weight");
  CHECK(r[0].channels == 4);
  CHECK(r[0].mean_abs == Approx(0.9375));
  CHECK(r[0].min_abs == 0.25);
  CHECK(r[0].max_abs == 2.0);
  const std::string text = format_norm_scale_report(r);
  CHECK(text.find("1.weight") != std::string::npos);
  CHECK(text.find("0.938") != std::string::npos);
  auto plain = std::make_shared<Sequential>();
  plain->add(std::make_shared<Linear>(3, 4, false, rng));
  CHECK(norm_scale_report(*plain).empty());
  CHECK(format_norm_scale_report({}).empty());
}

TEST_CASE("the activation scale report gives each scaled activation's trained and used factor",
          "[report]") {
  auto net = std::make_shared<Sequential>();
  auto trained = std::make_shared<Pow2Activation>(
      Pow2ActivationSpec{3, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrained});
  auto rounded = std::make_shared<Pow2Activation>(
      Pow2ActivationSpec{3, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrainedPow2});
  net->add("act1", trained).add("fixed", std::make_shared<Pow2Activation>(Pow2ActivationSpec{}));
  net->add("act2", rounded);
  trained->parameters()[0].tensor.data()[0] = 1.3f;
  rounded->parameters()[0].tensor.data()[0] = 2.9f;
  const std::vector<ActivationScaleReport> r = activation_scale_report(*net);
  REQUIRE(r.size() == 2);  // fixed levels have no factor
  CHECK(r[0].name == "act1");
  CHECK(r[0].trained == Approx(1.3));
  CHECK(r[0].used == Approx(1.3));
  CHECK(r[1].name == "act2");
  CHECK(r[1].trained == Approx(2.9));
  CHECK(r[1].used == 4.0);  // log2 2.9 = 1.54 rounds to 2
  CHECK(format_activation_scale_report(r).find("act2") != std::string::npos);
  CHECK(format_activation_scale_report({}).empty());
}
