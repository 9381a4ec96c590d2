// lowbit-quantize's model pieces: the FAT transformation of a zoo model (folded, calibrated; scales
// only trainable), and the quantized checkpoint, which rebuilds a model that computes the same
// logits (also from a file with the layer names of before module paths).
#include "apps/fat/quantize_model.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/train/run_setup.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/checkpoint.h"
#include "core/rng.h"
#include "data/datasets.h"
#include "layers/batch_norm.h"
#include "layers/identity.h"
#include "layers/quant/uniform_quantizer.h"
#include "models/legacy_names.h"
#include "models/module_paths.h"
#include "tests/gradcheck.h"
#include "tests/temp_root.h"

using namespace lowbit;
using lowbit::testing::eval_no_grad;
using lowbit::testing::random_tensor;

TEST_CASE("quantize_model: fold, calibrate, train only the scales, and the checkpoint round trip",
          "[quantize_model]") {
  const lowbit::testing::TempRoot root("quantize_model_test");
  struct Case {
    const char* model;
    const char* dataset;
    const char* mode;
    const char* thresholds;
    bool weight_scales, rescale_dws;
  };
  for (const Case& c : {Case{"resnet20", "cifar10", "vector", "symmetric", true, false},
                        Case{"lenet5", "mnist", "scalar", "asymmetric", false, false},
                        Case{"mobilenetv2", "cifar10", "scalar", "symmetric", false, true}}) {
    DYNAMIC_SECTION(c.model << " " << c.mode << " " << c.thresholds) {
      TrainConfig train;
      train.model = c.model;
      train.dataset = c.dataset;
      const DatasetInfo& info = dataset_info(train.dataset);
      std::shared_ptr<Module> model = build_model(train, info);
      Rng rng(7);
      for_each_module(*model, [&](Module& m) {
        if (auto* bn = dynamic_cast<BatchNorm*>(&m))
          for (int64_t k = 0; k < bn->channels(); ++k)
            bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
      });
      QuantizeConfig quantize;
      quantize.bits = 6;
      quantize.mode = c.mode;
      quantize.thresholds = c.thresholds;
      quantize.train_weight_scales = c.weight_scales;
      quantize.rescale_dws = c.rescale_dws;
      const std::vector<Tensor> calibration{
          random_tensor({4, info.channels, info.side, info.side}, rng)};
      QuantizedModel q = quantize_model(model, train, quantize, calibration);
      const std::string name = c.model;
      const int64_t bns = name == "resnet20" ? 19 : name == "mobilenetv2" ? 52 : 0;
      CHECK(q.fold.folded == bns);
      CHECK(q.rescaled.size() ==
            (c.rescale_dws ? 17u : 0u));  // one pair per inverted residual block
      int64_t identities = 0;
      for_each_module(*q.model, [&](Module& m) {
        identities += dynamic_cast<Identity*>(&m) != nullptr;
        CHECK_FALSE(dynamic_cast<BatchNorm*>(&m));
      });
      const auto layers = static_cast<int64_t>(q.layers.size());
      CHECK(identities == bns);
      CHECK(layers == (name == "resnet20" ? 20 : name == "mobilenetv2" ? 53 : 5));
      for (const CalibratedLayer& l : q.layers)
        CHECK((l.weight_scales != nullptr) == c.weight_scales);

      // Only the scales train; a step that pushes them out of range is projected back.
      const std::vector<Parameter> scales = freeze_all_but_scales(*q.model);
      for (const Parameter& p : q.model->parameters())
        CHECK(p.tensor.requires_grad() == (p.role == ParamRole::kQuantScale));
      // Per layer: an alpha for the weight and one for the input (asymmetric: alpha_left and
      // alpha_width each), plus the point-wise factors.
      const int64_t per_layer =
          (quantize.thresholds == "asymmetric" ? 4 : 2) + (c.weight_scales ? 1 : 0);
      CHECK(static_cast<int64_t>(scales.size()) == layers * per_layer);
      for (const Parameter& p : scales) p.tensor.fill(3.0f);
      project_scales(*q.model);
      for (const Parameter& p : scales)
        for (float v : p.tensor.to_vector()) CHECK(v <= 1.25f);
      for (const Parameter& p : scales) p.tensor.fill(0.9f);  // a valid, non-initial state to save

      const Tensor x = random_tensor({3, info.channels, info.side, info.side}, rng);
      const Tensor expected = eval_no_grad(*q.model, x);
      const std::string path = (root.dir("ckpt") / (std::string(c.model) + ".ckpt")).string();
      save_quantized_checkpoint(path, q);
      const QuantizedModel loaded = load_quantized_checkpoint(path);
      CHECK(loaded.train.model == train.model);
      CHECK(loaded.quantize.mode == quantize.mode);
      CHECK(loaded.quantize.bits == 6);
      REQUIRE(loaded.layers.size() == q.layers.size());
      for (size_t i = 0; i < q.layers.size(); ++i)
        CHECK(loaded.layers[i].input->spec().is_signed == q.layers[i].input->spec().is_signed);
      CHECK(eval_no_grad(*loaded.model, x).to_vector() == expected.to_vector());

      // The same file as written before module paths (entries and input_signed keyed by the old
      // layer names) loads to the same logits.
      Checkpoint old = load_checkpoint(path);
      const std::map<std::string, std::string> old_entry = legacy_entry_names(*q.model);
      for (NamedTensor& t : old.tensors) {
        const auto it = old_entry.find(t.name.substr(6));
        if (it != old_entry.end()) t.name = "model." + it->second;
      }
      REQUIRE_FALSE(old.has_tensor("model.conv1.weight"));
      nlohmann::json old_config = nlohmann::json::parse(old.config);
      const std::map<std::string, std::string> old_path = legacy_module_paths(*q.model);
      nlohmann::json old_signed = nlohmann::json::object();
      for (const auto& [layer, is_signed] : old_config.at("input_signed").items())
        old_signed[old_path.at(layer)] = is_signed;
      old_config["input_signed"] = old_signed;
      old.config = old_config.dump();
      save_checkpoint(path, old);
      const QuantizedModel from_old = load_quantized_checkpoint(path);
      REQUIRE(from_old.layers.size() == q.layers.size());
      for (size_t i = 0; i < q.layers.size(); ++i)
        CHECK(from_old.layers[i].input->spec().is_signed == q.layers[i].input->spec().is_signed);
      CHECK(eval_no_grad(*from_old.model, x).to_vector() == expected.to_vector());
    }
  }
}

TEST_CASE("quantize_model: errors", "[quantize_model]") {
  const lowbit::testing::TempRoot root("quantize_model_errors");
  TrainConfig train;
  train.model = "lenet5";
  train.dataset = "mnist";
  CHECK_THROWS_WITH(
      quantize_model(build_model(train, dataset_info("mnist")), train, QuantizeConfig{}, {}),
      Catch::Contains("no calibration batches"));
  // A checkpoint of another kind is refused with its name.
  const std::string path = (root.dir("x") / "other.ckpt").string();
  Checkpoint other;
  other.config = "{\"model\": \"lenet5\"}";
  save_checkpoint(path, other);
  CHECK_THROWS_WITH(load_quantized_checkpoint(path),
                    Catch::Contains(path) && Catch::Contains("not a lowbit-quantize checkpoint"));
  // A value of the wrong type is named with the file and its key.
  Checkpoint typed;
  typed.config =
      R"({"format": "lowbit-quantize", "train_config": {"model": "lenet5", "dataset": "mnist", "augment": 1}})";
  save_checkpoint(path, typed);
  CHECK_THROWS_WITH(load_quantized_checkpoint(path),
                    path + ": key /train_config/augment: type must be boolean, but is number");
  nlohmann::json quantize = to_json(QuantizeConfig{});
  quantize["bits"] = "8";
  typed.config = nlohmann::json{
      {"format", "lowbit-quantize"},
      {"train_config", to_json(train)},
      {"quantize_config",
       quantize}}.dump();
  save_checkpoint(path, typed);
  CHECK_THROWS_WITH(load_quantized_checkpoint(path),
                    path + ": key /quantize_config/bits: type must be number, but is string");
  Rng rng(1);
  auto model = build_model(train, dataset_info("mnist"));
  CHECK_THROWS_WITH(freeze_all_but_scales(*model), Catch::Contains("no quantizer scales"));
}

TEST_CASE("quantize_model: snap_scales rounds every scale to 2^-12 inside its clip range",
          "[quantize_model]") {
  UniformQuantizerSpec symmetric;
  symmetric.granularity = Granularity::kVector;
  UniformQuantizer a(symmetric, 3);
  UniformQuantizerSpec asymmetric;
  asymmetric.thresholds = Thresholds::kAsymmetric;
  UniformQuantizer b(asymmetric, 1);
  const std::vector<Parameter> pa = a.parameters(), pb = b.parameters();
  REQUIRE(pa.size() == 1);
  REQUIRE(pb.size() == 2);
  const float alphas[] = {0.70001f, 1.3f, 0.50004f};
  std::copy(alphas, alphas + 3, pa[0].tensor.data());
  pb[0].tensor.data()[0] = -0.19999f;  // alpha_left, clip range [-0.2, 0.4]
  pb[1].tensor.data()[0] = 0.8125f;    // already a multiple of 2^-12
  snap_scales(a);
  snap_scales(b);
  CHECK(pa[0].tensor.to_vector() == std::vector<float>{2867.0f / 4096, 1.0f, 0.5f});
  CHECK(pb[0].tensor.data()[0] == -819.0f / 4096);
  CHECK(pb[1].tensor.data()[0] == 0.8125f);
  CHECK_THROWS_WITH(snap_scales(a, 24), Catch::Contains("24 fraction bits"));
}
