// Model summaries of quantized models: a Conv2d or Linear with quantizers (children) is still
// listed as one layer, with the same MACs as its float self and its quantizers' parameters counted.
#include "models/summary.h"

#include <catch2/catch.hpp>
#include <memory>

#include "core/rng.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/quant/uniform_quantizer.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "tests/zoo_options.h"

using namespace lowbit;

TEST_CASE("summary: layers with quantizers stay in the summary", "[models][summary]") {
  Rng rng(0);
  auto lenet = make_model("lenet5", testing::zoo_options("lenet5"), rng);
  const ModelSummary before = summarize(*lenet, 1, 28);
  int64_t alphas = 0;
  for_each_module(*lenet, [&](Module& m) {
    auto quantizer = [] {
      return std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true), 1);
    };
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
      conv->set_weight_quantizer(quantizer());
      conv->set_input_quantizer(quantizer());
      alphas += 2;
    } else if (auto* fc = dynamic_cast<Linear*>(&m)) {
      fc->set_weight_quantizer(quantizer());
      fc->set_input_quantizer(quantizer());
      alphas += 2;
    }
  });
  REQUIRE(alphas == 10);
  // Calibrated limits, so that the traced forward runs.
  for (const NamedTensor& b : lenet->buffers()) b.tensor.fill(1.0f);
  const ModelSummary after = summarize(*lenet, 1, 28);
  REQUIRE(after.layers.size() == before.layers.size());
  for (size_t i = 0; i < after.layers.size(); ++i) {
    CHECK(after.layers[i].name == before.layers[i].name);
    CHECK(after.layers[i].type == before.layers[i].type);
    CHECK(after.layers[i].output_shape == before.layers[i].output_shape);
    CHECK(after.layers[i].macs == before.layers[i].macs);
  }
  CHECK(after.macs == before.macs);
  CHECK(after.layers[0].type == "Conv2d");
  CHECK(after.layers[0].parameters == before.layers[0].parameters + 2);  // weight and input alpha
  CHECK(after.parameters == before.parameters + alphas);
}
