// lowbit-quantize's accuracy table (text, CSV, JSON) and its configuration (flags to quantizer
// options, the default output directory, the JSON round trip).
#include "apps/fat/quantize_report.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "apps/fat/quantize_config.h"

using namespace lowbit;

TEST_CASE("quantize_report: the accuracy table as text, CSV and JSON", "[quantize_report]") {
  const std::vector<AccuracyRow> rows{
      {"float", 91.5, 0.3, 0.0}, {"naive", 80.25, 0.6, 1.5}, {"fine-tuned", 90.0, 0.35, 0.5}};
  const std::string text = accuracy_table_text("resnet20 on cifar10", rows);
  CHECK(text.rfind("resnet20 on cifar10\nstage", 0) == 0);
  CHECK(text.find("naive            80.25%     -11.25") != std::string::npos);
  CHECK(text.find("fine-tuned       90.00%      -1.50") != std::string::npos);
  CHECK(accuracy_table_csv(rows) ==
        "stage,test_accuracy,test_loss,logits_rmse\nfloat,91.5000,0.300000,0.000000\nnaive,80.2500,"
        "0.600000,1.500000\n"
        "fine-tuned,90.0000,0.350000,0.500000\n");
  const nlohmann::json j = accuracy_table_json(rows);
  REQUIRE(j.size() == 3);
  CHECK(j[1]["stage"] == "naive");
  CHECK(j[1]["test_accuracy"] == 80.25);
  CHECK(j[2]["logits_rmse"] == 0.5);
}

TEST_CASE("quantize_config: quantizer options, output directory, JSON round trip",
          "[quantize_report]") {
  QuantizeConfig c;
  c.bits = 4;
  c.mode = "scalar";
  c.thresholds = "asymmetric";
  c.train_weight_scales = true;
  const UniformQuantizationOptions o = c.quantization();
  CHECK(o.weight_bits == 4);
  CHECK(o.input_bits == 4);
  CHECK(o.thresholds == Thresholds::kAsymmetric);
  CHECK(o.weight_granularity == Granularity::kScalar);
  CHECK(o.input_granularity == Granularity::kScalar);
  CHECK(o.pointwise_weight_scales);
  c.mode = "vector";
  CHECK(c.quantization().weight_granularity == Granularity::kVector);
  CHECK(c.quantization().input_granularity ==
        Granularity::kScalar);  // activations per tensor in both modes
  c.resolve("resnet20", "cifar10");
  CHECK(c.out == "runs/resnet20-cifar10-fat4-vector-asymmetric");
  c.out = "elsewhere";
  c.resolve("lenet5", "mnist");
  CHECK(c.out == "elsewhere");
  c.lr = 0.02f;
  c.seed = 9;
  c.tie_images = 250;
  CHECK(to_json(quantize_config_from_json(to_json(c))) == to_json(c));
  nlohmann::json older = to_json(c);  // a checkpoint written before the rounding-tie clearance
  older.erase("tie_images");
  CHECK(quantize_config_from_json(older).tie_images == 0);
}

TEST_CASE("quantize_report: the rounding-tie clearance as text and JSON", "[quantize_report]") {
  const std::vector<TieCheck> checks{{"conv1", 0, 2, 2, 1000},
                                     {"features.6.conv.0.0", -1, 56, 1, 4096}};
  const std::string text = tie_clearance_text(checks, 500, 16.14);
  CHECK(text.rfind("rounding ties: 1 of 2 input thresholds moved off values on a rounding boundary "
                   "(500 training images, 16.1 s)\n",
                   0) == 0);
  CHECK(text.find("  features.6.conv.0.0 ") != std::string::npos);
  CHECK(text.find("alpha -1 x 2^-12: 56 values near a boundary -> 1\n") != std::string::npos);
  CHECK(text.find("conv1") == std::string::npos);  // only the moved layers are listed
  const nlohmann::json j = tie_clearance_json(checks, 500, 16.14);
  CHECK(j["images"] == 500);
  CHECK(j["layers_checked"] == 2);
  REQUIRE(j["moved"].size() == 1);
  CHECK(j["moved"][0]["layer"] == "features.6.conv.0.0");
  CHECK(j["moved"][0]["units"] == -1);
  CHECK(j["moved"][0]["ties_before"] == 56);
  CHECK(j["moved"][0]["ties_after"] == 1);
}
