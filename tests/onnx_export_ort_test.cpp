// lowbit's exports run in ONNX Runtime, a runtime nobody here wrote: every exported zoo model in
// float gives lowbit's logits within 1e-4 of the logit scale, and FAT-quantized models in the QDQ
// form predict as lowbit's integer-only model. On real MNIST (when present) a LeNet-5 trained by
// lowbit-train and quantized by lowbit-quantize is run on the 10,000 test images in both. Skips,
// and says why, without ONNX Runtime (scripts/install-onnxruntime.sh).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/fat/quantize_model.h"
#include "apps/train/evaluate.h"
#include "apps/train/run_setup.h"
#include "core/autograd.h"
#include "core/rng.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "layers/batch_norm.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/onnx/onnx_export.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/integer_model.h"
#include "models/transforms/weight_grid.h"
#include "tests/gradcheck.h"
#include "tests/onnx_runtime.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"
#include "tests/zoo_options.h"

namespace fs = std::filesystem;
using namespace lowbit;
using lowbit::testing::CommandResult;
using lowbit::testing::eval_no_grad;
using lowbit::testing::random_tensor;
using lowbit::testing::run_command;

namespace {

const lowbit::testing::TempRoot temp_root("lowbit_onnx_export_ort_test");

std::shared_ptr<Module> zoo_model(const std::string& name, Rng& rng) {
  ModelOptions options = lowbit::testing::zoo_options(name);
  if (name == "mobilenetv2") options.width_multiplier = 0.5f;
  std::shared_ptr<Module> model = make_model(name, options, rng);
  for_each_module(*model, [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&m))
      for (int64_t k = 0; k < bn->channels(); ++k) {
        bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
        bn->running_mean().data()[k] = rng.uniform(-0.2f, 0.2f);
      }
  });
  model->eval();
  return model;
}

// Whether ONNX Runtime runs here; when not, WARNs why the test is skipped.
bool onnx_runtime_ready() {
  const std::string missing = lowbit::testing::onnx_runtime_missing();
  if (!missing.empty()) WARN("skipped: " << missing);
  return missing.empty();
}

// The model written to dir/name.onnx and run there in ONNX Runtime on x.
Tensor in_onnx_runtime(Module& model, const Tensor& x, const std::string& name) {
  OnnxExportOptions o;
  o.channels = x.size(1);
  o.side = x.size(2);
  const std::string path = (temp_root.dir("files") / (name + ".onnx")).string();
  export_onnx(model, o, path);
  return lowbit::testing::run_onnx_runtime(path, x);
}

}  // namespace

TEST_CASE("ONNX Runtime runs lowbit's float and QDQ exports of zoo models as lowbit does",
          "[onnx][ort]") {
  if (!onnx_runtime_ready()) return;
  for (const std::string name : {"lenet5", "resnet20", "vgg7", "mobilenetv2"}) {
    DYNAMIC_SECTION(name) {
      Rng rng(7);
      std::shared_ptr<Module> model = zoo_model(name, rng);
      const ModelOptions options = lowbit::testing::zoo_options(name);
      const Tensor x =
          random_tensor({16, options.in_channels, options.image_size, options.image_size}, rng);
      Agreement fp;
      accumulate_agreement(eval_no_grad(*model, x), in_onnx_runtime(*model, x, name), fp);
      INFO(name << " float: worst |ONNX Runtime - lowbit| / scale " << fp.relative_difference());
      CHECK(fp.relative_difference() <= 1e-4);

      // FAT at 8 and 4 bits: BN folded, calibrated thresholds; QDQ in ONNX Runtime against the
      // integer-only model.
      fold_batch_norms(*model, x);
      UniformQuantizationOptions q;
      q.weight_bits = q.input_bits = name == "lenet5" ? 4 : 8;
      q.thresholds = name == "lenet5" ? Thresholds::kAsymmetric : Thresholds::kSymmetric;
      q.weight_granularity = Granularity::kVector;
      attach_calibrated_quantizers(*model, {x}, q);
      IntegerModel integer(*model);
      Agreement qdq;
      accumulate_agreement(eval_no_grad(integer, x), in_onnx_runtime(*model, x, name + "_qdq"),
                           qdq);
      INFO(name << " " << q.weight_bits << "-bit QDQ: " << qdq.agreeing << " of " << qdq.count
                << " predictions as the integer model, worst logit difference / scale "
                << qdq.relative_difference());
      CHECK(qdq.agreeing == qdq.count);
      CHECK(qdq.relative_difference() <= 0.05);
    }
  }
}

TEST_CASE("on real MNIST, ONNX Runtime predicts as lowbit's integer model for a 4-bit LeNet-5",
          "[onnx][ort][real]") {
  if (!onnx_runtime_ready()) return;
  std::string data;
  try {
    data = resolve_data_dir("mnist", "");
  } catch (const Error&) {
    if (fs::is_directory(fs::path(LOWBIT_SHARED_DATA) / "mnist"))
      data = (fs::path(LOWBIT_SHARED_DATA) / "mnist").string();
  }
  if (data.empty()) {
    WARN("skipped: no MNIST ($LOWBIT_DATA/mnist or ../shared/data)");
    return;
  }
  const fs::path dir = temp_root.fresh("mnist");
  const std::string common = " --threads 2 --data-dir " + data + " ";
  const CommandResult trained = run_command(
      std::string(LOWBIT_TRAIN_BIN) + common +
      "--model lenet5 --dataset mnist --epochs 1 --train-subset 20000 --val-split 1000 --out " +
      (dir / "float").string());
  INFO(trained.output);
  REQUIRE(trained.status == 0);
  const CommandResult quantized =
      run_command(std::string(LOWBIT_QUANTIZE_BIN) + common + "--checkpoint " +
                  (dir / "float" / "best.ckpt").string() +
                  " --bits 4 --epochs 2 --data-fraction 0.1 --out " + (dir / "q4").string());
  INFO(quantized.output);
  REQUIRE(quantized.status == 0);
  const fs::path onnx = dir / "q4.onnx";
  const CommandResult exported =
      run_command(std::string(LOWBIT_EXPORT_BIN) + " --checkpoint " +
                  (dir / "q4" / "quantized.ckpt").string() + " --out " + onnx.string());
  INFO(exported.output);
  REQUIRE(exported.status == 0);

  // The 10,000 test images, normalized as lowbit feeds them, through both.
  const QuantizedModel q = load_quantized_checkpoint((dir / "q4" / "quantized.ckpt").string());
  IntegerModel integer(*q.model);
  const DatasetInfo info = run_dataset_info(q.train);
  const Dataset test = load_dataset("mnist", data).test;
  auto loader = make_eval_loader(test, test.size(), info);
  loader->start_epoch(0);
  Batch batch;
  REQUIRE(loader->next(batch));
  const Tensor lowbit_logits = eval_no_grad(integer, batch.images);
  const Tensor ort_logits = lowbit::testing::run_onnx_runtime(onnx.string(), batch.images);
  Agreement agreement;
  accumulate_agreement(lowbit_logits, ort_logits, agreement);
  INFO("4-bit LeNet-5 on " << agreement.count << " MNIST test images: ONNX Runtime predicts as "
                           << "the integer model on " << agreement.percent() << "%");
  CHECK(agreement.count == 10000);
  CHECK(agreement.percent() >= 99.9);
}

TEST_CASE("ONNX Runtime computes lowbit's power-of-two models: grid weights and activation levels",
          "[onnx][ort]") {
  if (!onnx_runtime_ready()) return;
  // LeNet-5 only: in a deep network with random weights (ResNet-20: 5 of 16 predictions agreeing),
  // the one-ulp differences between two convolution implementations move pre-activations across
  // the levels' thresholds, and each such flip is a whole level, amplified layer after layer.
  for (const std::string name : {"lenet5"}) {
    for (const auto kind : {ActivationSpec::Kind::kPow2, ActivationSpec::Kind::kReluPow2}) {
      DYNAMIC_SECTION(name << (kind == ActivationSpec::Kind::kPow2 ? " pow2" : " relu-pow2")) {
        Rng rng(9);
        ModelOptions options = lowbit::testing::zoo_options(name);
        options.activation.kind = kind;
        options.activation.scale = Pow2Scale::kTrainedPow2;
        std::shared_ptr<Module> model = make_model(name, options, rng);
        // Weights on the grid {0, ±2^-3, ..., ±1}, as DST keeps them; trained level scales away
        // from 1 (0.3 rounds to 0.25); BN scaled so that activations spread over the levels.
        for (Parameter& p : grid_weight_parameters(*model, true, true))
          for (int64_t i = 0; i < p.tensor.numel(); ++i)
            p.tensor.data()[i] =
                std::ldexp(static_cast<float>(static_cast<int64_t>(rng.below(17)) - 8), -3);
        for (const Parameter& p : model->parameters())
          if (p.role == ParamRole::kQuantScale) p.tensor.data()[0] = 0.3f;
        model->eval();
        const Tensor x =
            random_tensor({16, options.in_channels, options.image_size, options.image_size}, rng);
        Agreement agreement;
        accumulate_agreement(eval_no_grad(*model, x), in_onnx_runtime(*model, x, name + "_pow2"),
                             agreement);
        INFO(name << ": " << agreement.agreeing << " of " << agreement.count
                  << " predictions as lowbit, worst logit difference / scale "
                  << agreement.relative_difference());
        CHECK(agreement.agreeing == agreement.count);
        CHECK(agreement.relative_difference() <= 1e-4);
      }
    }
  }
}
