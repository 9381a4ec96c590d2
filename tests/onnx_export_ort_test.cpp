// lowbit's exports run in ONNX Runtime, a runtime nobody here wrote: every exported zoo model in
// float, and as a data-free PTQ cell, gives lowbit's logits within 1e-4 of the logit scale, and
// FAT-quantized models in the QDQ form predict as lowbit's integer-only model. On real data (when
// present): LeNet-5s trained by lowbit-train and quantized by lowbit-quantize on the 10,000 MNIST
// test images; the CIFAR zoo with random weights on CIFAR-10 test images; a briefly trained
// power-of-two ResNet-20 on 2,000 of them. Skips, and says why, without ONNX Runtime
// (scripts/install-onnxruntime.sh).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/fat/quantize_model.h"
#include "apps/train/bn_recalibration.h"
#include "apps/train/evaluate.h"
#include "apps/train/run_setup.h"
#include "core/autograd.h"
#include "core/rng.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "data/split.h"
#include "layers/batch_norm.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/onnx/onnx_export.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/integer_model.h"
#include "models/transforms/ptq_model.h"
#include "models/transforms/weight_grid.h"
#include "tests/gradcheck.h"
#include "tests/onnx_runtime.h"
#include "tests/program_runs.h"
#include "tests/quantized_models.h"
#include "tests/real_data.h"
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
  lowbit::testing::move_batch_norm_statistics(*model, rng);
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
Tensor in_onnx_runtime(Module& model, const Tensor& x, const std::string& name,
                       const PtqModelResult* ptq = nullptr) {
  OnnxExportOptions o;
  o.channels = x.size(1);
  o.side = x.size(2);
  o.ptq = ptq;
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

      // A data-free PTQ cell (4-bit asymmetric kernels per channel, as int8/uint8 codes with
      // DequantizeLinear and the grid's minimum added): a float network again, within 1e-4.
      {
        const ModelSnapshot before(*model);
        const PtqModelResult ptq = ptq_quantize_model(
            *model, PtqSpec{PtqScheme::kAsymmetric, 4, Granularity::kVector}, PtqTargets{});
        Agreement cell;
        accumulate_agreement(eval_no_grad(*model, x),
                             in_onnx_runtime(*model, x, name + "_ptq", &ptq), cell);
        INFO(name << " PTQ asym-4: worst |ONNX Runtime - lowbit| / scale "
                  << cell.relative_difference());
        CHECK(cell.relative_difference() <= 1e-4);
        before.restore();
      }

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

TEST_CASE("ONNX Runtime computes ResNets with the activation at the branch's input as lowbit does",
          "[onnx][ort]") {
  if (!onnx_runtime_ready()) return;
  // Float ReLU: the export's wiring (the activation before the branch and a projection, none
  // after the sum) is what this checks; ResNet-20 has option-A shortcuts, ResNet-18 projections.
  for (const std::string name : {"resnet20", "resnet18"}) {
    DYNAMIC_SECTION(name) {
      Rng rng(5);
      ModelOptions options = lowbit::testing::zoo_options(name);
      options.activation.residual = ActivationSpec::Residual::kBranchInput;
      std::shared_ptr<Module> model = make_model(name, options, rng);
      lowbit::testing::move_batch_norm_statistics(*model, rng);
      model->eval();
      const Tensor x =
          random_tensor({4, options.in_channels, options.image_size, options.image_size}, rng);
      Agreement fp;
      accumulate_agreement(eval_no_grad(*model, x),
                           in_onnx_runtime(*model, x, name + "_branch_input"), fp);
      INFO(name << ": worst |ONNX Runtime - lowbit| / scale " << fp.relative_difference());
      CHECK(fp.relative_difference() <= 1e-4);
    }
  }
}

namespace {

// A zoo model as lowbit-train builds it for `config` (random weights; a power-of-two run's grid
// weights projected by DST's initialization and its layers set to exact sums), its batch norms
// re-estimated on `images` so that the activations have the spread of real data.
std::shared_ptr<Module> model_on_real_images(TrainConfig config, const Dataset& images,
                                             const DatasetInfo& info) {
  config.resolve();
  std::shared_ptr<Module> model = build_model(config, info);
  const auto optimizers = build_optimizers(config, *model);  // projects pow2 weights on the grid
  auto loader = make_eval_loader(images, 100, info);
  recalibrate_batch_norm(*model, *loader, 100);
  model->eval();
  return model;
}

Tensor normalized(const Dataset& images, const DatasetInfo& info) {
  auto loader = make_eval_loader(images, images.size(), info);
  loader->start_epoch(0);
  Batch batch;
  LOWBIT_CHECK(loader->next(batch), "no images");
  return batch.images;
}

// `checkpoint` written by lowbit-export to `onnx` and run there in ONNX Runtime on x.
Tensor exported_in_onnx_runtime(const fs::path& checkpoint, const fs::path& onnx, const Tensor& x) {
  const CommandResult exported = run_command(std::string(LOWBIT_EXPORT_BIN) + " --checkpoint " +
                                             checkpoint.string() + " --out " + onnx.string());
  INFO(exported.output);
  REQUIRE(exported.status == 0);
  return lowbit::testing::run_onnx_runtime(onnx.string(), x);
}

// The float checkpoint quantized by lowbit-quantize at `bits` into dir/q<bits>, exported by
// lowbit-export and run in ONNX Runtime on x: its predictions against lowbit's integer model.
Agreement fat_in_onnx_runtime(const fs::path& checkpoint, int bits, const std::string& flags,
                              const fs::path& dir, const Tensor& x) {
  const fs::path out = dir / concat("q", bits);
  const CommandResult quantized = run_command(std::string(LOWBIT_QUANTIZE_BIN) + flags +
                                              " --checkpoint " + checkpoint.string() + " --bits " +
                                              std::to_string(bits) + " --out " + out.string());
  INFO(quantized.output);
  REQUIRE(quantized.status == 0);
  const Tensor ort =
      exported_in_onnx_runtime(out / "quantized.ckpt", dir / concat("q", bits, ".onnx"), x);
  const QuantizedModel q = load_quantized_checkpoint((out / "quantized.ckpt").string());
  IntegerModel integer(*q.model);
  Agreement agreement;
  accumulate_agreement(eval_no_grad(integer, x), ort, agreement);
  return agreement;
}

}  // namespace

TEST_CASE(
    "on real MNIST, ONNX Runtime computes a trained LeNet-5 as lowbit: float, 4- and 8-bit FAT",
    "[onnx][ort][real]") {
  if (!onnx_runtime_ready()) return;
  const std::string data = lowbit::testing::real_data_dir("mnist", temp_root);
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
  // The 10,000 test images, normalized as lowbit feeds them, through both.
  const Tensor x = normalized(load_dataset("mnist", data).test, dataset_info("mnist"));
  // The float network itself, exported: its logits within 1e-4 of their scale.
  const fs::path trained_float = dir / "float" / "best.ckpt";
  Agreement fp;
  accumulate_agreement(eval_no_grad(*load_trained_model(trained_float.string()).model, x),
                       exported_in_onnx_runtime(trained_float, dir / "float.onnx", x), fp);
  INFO("float LeNet-5 on MNIST: worst |ONNX Runtime - lowbit| / scale "
       << fp.relative_difference());
  CHECK(fp.relative_difference() <= 1e-4);
  for (const int bits : {4, 8}) {
    const Agreement agreement = fat_in_onnx_runtime(
        dir / "float" / "best.ckpt", bits, common + "--epochs 2 --data-fraction 0.1", dir, x);
    INFO(bits << "-bit LeNet-5 on " << agreement.count << " MNIST test images: ONNX Runtime "
              << "predicts as the integer model on " << agreement.percent() << "%");
    CHECK(agreement.count == 10000);
    CHECK(agreement.percent() >= 99.9);
  }
}

TEST_CASE("ONNX Runtime computes lowbit's power-of-two models: grid weights and activation levels",
          "[onnx][ort]") {
  if (!onnx_runtime_ready()) return;
  // LeNet-5 on random images, every layer on the grid, with trained level scales. The deep
  // networks are checked on real images below, built as lowbit-train builds them: there the grid
  // layers sum exactly (Conv2dOptions::exact_sums) and BN rounds as ONNX Runtime does, so no
  // pre-activation lands on the other side of a threshold.
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

TEST_CASE("on real CIFAR-10 test images, ONNX Runtime computes lowbit's exports of the CIFAR zoo",
          "[onnx][ort][real]") {
  if (!onnx_runtime_ready()) return;
  const std::optional<Dataset> all = lowbit::testing::real_test_images("cifar10", 300, temp_root);
  if (!all) {
    WARN("skipped: no CIFAR-10 ($LOWBIT_DATA/cifar10, ./data/cifar10 or ../shared/data)");
    return;
  }
  const DatasetInfo& info = dataset_info("cifar10");
  // One network of each structure: VGG-16 and ResNet-34 are VGG-11 and ResNet-18 made deeper
  // (every zoo model's export is checked on random images in onnx_export_test).
  for (const std::string name :
       {"resnet20", "resnet56", "vgg7", "mobilenetv2", "resnet18", "vgg11", "resnet50"}) {
    DYNAMIC_SECTION(name) {
      // 300 images for the small networks, 100 for the three large ones.
      const bool large = name == "resnet18" || name == "resnet50" || name == "vgg11";
      const Dataset test = take_first(*all, large ? 100 : 300);
      const Tensor x = normalized(test, info);
      TrainConfig config;
      config.model = name;
      config.dataset = "cifar10";
      config.width_multiplier = name == "mobilenetv2" ? 0.5f : 1.0f;
      std::shared_ptr<Module> model = model_on_real_images(config, test, info);

      Agreement fp;
      accumulate_agreement(eval_no_grad(*model, x), in_onnx_runtime(*model, x, name + "_real"), fp);
      INFO(name << " float on " << fp.count << " images: worst |ONNX Runtime - lowbit| / scale "
                << fp.relative_difference());
      CHECK(fp.relative_difference() <= 1e-4);

      // The QDQ form is checked on random images above and, for its predictions, on the trained
      // LeNet-5s on MNIST: with random weights the logit margins lie below one code's rounding.

      // Power-of-two weights and activations ([-3, 0.125], first layer float), as
      // `lowbit-train --weights pow2 --act pow2` builds them. Not ResNet-56: with random weights
      // its 55 layers amplify the float first layer's rounding (lowbit's GEMM and ONNX Runtime's
      // convolution sum the pixels in different orders) into a different prediction on about one
      // image in 1,500 (2 of 3,000 measured), too rare to show on these 300.
      if (name == "resnet56") continue;
      TrainConfig pow2 = config;
      pow2.weights = "pow2";
      pow2.act = "pow2";
      std::shared_ptr<Module> grid = model_on_real_images(pow2, test, info);
      Agreement levels;
      accumulate_agreement(eval_no_grad(*grid, x), in_onnx_runtime(*grid, x, name + "_real_pow2"),
                           levels);
      INFO(name << " power-of-two: " << levels.agreeing << " of " << levels.count
                << " predictions as lowbit");
      CHECK(levels.percent() >= 99.9);
    }
  }
}

TEST_CASE("on real CIFAR-10, ONNX Runtime predicts as lowbit for a trained power-of-two ResNet-20",
          "[onnx][ort][real][apps]") {
  if (!onnx_runtime_ready()) return;
  const std::string data = lowbit::testing::real_data_dir("cifar10", temp_root);
  if (data.empty()) {
    WARN("skipped: no CIFAR-10 ($LOWBIT_DATA/cifar10, ./data/cifar10 or ../shared/data)");
    return;
  }
  // Two epochs on 10,000 training images: far from converged (about 40%), but with logit margins
  // that random weights lack.
  const fs::path dir = temp_root.fresh("cifar_pow2");
  const CommandResult trained =
      run_command(std::string(LOWBIT_TRAIN_BIN) + " --threads 2 --data-dir " + data +
                  " --model resnet20 --dataset cifar10 --weights pow2 --act pow2 --epochs 2 "
                  "--train-subset 10000 --val-split 500 --out " +
                  (dir / "run").string());
  INFO(trained.output);
  REQUIRE(trained.status == 0);
  const std::optional<Dataset> test = lowbit::testing::real_test_images("cifar10", 2000, temp_root);
  REQUIRE(test);
  const Tensor x = normalized(*test, dataset_info("cifar10"));
  const fs::path checkpoint = dir / "run" / "best.ckpt";
  const Tensor ort = exported_in_onnx_runtime(checkpoint, dir / "pow2.onnx", x);
  const TrainedModel model = load_trained_model(checkpoint.string());
  Agreement agreement;
  accumulate_agreement(eval_no_grad(*model.model, x), ort, agreement);
  INFO("power-of-two ResNet-20 on " << agreement.count << " CIFAR-10 test images: ONNX Runtime "
                                    << "predicts as lowbit on " << agreement.percent() << "%");
  CHECK(agreement.count == 2000);
  CHECK(agreement.percent() >= 99.9);
}
