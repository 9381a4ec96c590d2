// lowbit-quantize's accuracy table (text, CSV, JSON) and its configuration (flags to quantizer
// options, the default output directory, the JSON round trip).
#include "apps/quantize_report.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "apps/quantize_config.h"

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
  CHECK(to_json(quantize_config_from_json(to_json(c))) == to_json(c));
}
