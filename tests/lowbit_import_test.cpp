// lowbit-import end to end, as a user runs it: an ONNX file written here becomes a checkpoint that
// rebuilds the same network (same logits as importing the file directly), that lowbit-eval scores
// with the input normalization given to lowbit-import, that lowbit-quantize and lowbit-ptq take,
// and whose quantized checkpoint stands on its own. Bad input: one line, exit status 2, no file.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/fat/quantize_model.h"
#include "apps/train/evaluate.h"
#include "apps/train/imported_model.h"
#include "apps/train/run_setup.h"
#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/rng.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "tests/gradcheck.h"
#include "tests/onnx_graph_writer.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace fs = std::filesystem;
using namespace lowbit;
using namespace lowbit::testing;

namespace {

// A small MNIST classifier with random weights: conv 3x3 (4) + BN + ReLU, max pool 2, conv 3x3
// stride 2 (8) + ReLU, global average pool, flatten, dense 10.
std::string small_mnist_net() {
  Rng rng(5);
  GraphWriter w({1, 1, 28, 28});
  w.initializer("w1", random_tensor({4, 1, 3, 3}, rng));
  w.initializer("b1", random_tensor({4}, rng));
  w.initializer("scale", random_tensor({4}, rng, 0.5f, 1.5f));
  w.initializer("shift", random_tensor({4}, rng));
  w.initializer("mean", random_tensor({4}, rng, -0.2f, 0.2f));
  w.initializer("var", random_tensor({4}, rng, 0.5f, 1.5f));
  w.initializer("w2", random_tensor({8, 4, 3, 3}, rng));
  w.initializer("fc", random_tensor({10, 8}, rng));
  w.initializer("fc_bias", random_tensor({10}, rng));
  auto* conv = w.node("Conv", {"input", "w1", "b1"}, "conv1");
  GraphWriter::attribute(conv, "kernel_shape", {3, 3});
  GraphWriter::attribute(conv, "pads", {1, 1, 1, 1});
  w.node("BatchNormalization", {"conv1", "scale", "shift", "mean", "var"}, "bn1");
  w.node("Relu", {"bn1"}, "relu1");
  auto* pool = w.node("MaxPool", {"relu1"}, "pool");
  GraphWriter::attribute(pool, "kernel_shape", {2, 2});
  GraphWriter::attribute(pool, "strides", {2, 2});
  auto* conv2 = w.node("Conv", {"pool", "w2"}, "conv2");
  GraphWriter::attribute(conv2, "kernel_shape", {3, 3});
  GraphWriter::attribute(conv2, "strides", {2, 2});
  w.node("Relu", {"conv2"}, "relu2");
  w.node("GlobalAveragePool", {"relu2"}, "gap");
  w.node("Flatten", {"gap"}, "flat");
  auto* fc = w.node("Gemm", {"flat", "fc", "fc_bias"}, "logits");
  GraphWriter::attribute(fc, "transB", int64_t{1});
  return w.bytes("logits");
}

struct Fixture {
  TempRoot root{"lowbit_import_test"};
  fs::path data, onnx;
  Fixture() {
    data = root.dir("bars");
    write_class_bars(data, "train", 300, 1);
    write_class_bars(data, "t10k", 60, 2);
    onnx = root.dir("onnx") / "net.onnx";
    std::ofstream(onnx, std::ios::binary) << small_mnist_net();
  }
  std::string import(const std::string& flags) const {
    return std::string(LOWBIT_IMPORT_BIN) + " --threads 1 " + onnx.string() + " " + flags;
  }
};

// The metadata_props of an ONNX file.
std::map<std::string, std::string> onnx_metadata(const fs::path& path) {
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_text(path)));
  std::map<std::string, std::string> metadata;
  for (const onnx::StringStringEntryProto& e : proto.metadata_props())
    metadata[e.key()] = e.value();
  return metadata;
}

void expect_error(const CommandResult& r, const std::string& what) {
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find(what) != std::string::npos);
  CHECK(count_occurrences(r.output, "\n") <= 2);  // the error, and at most a --help hint
}

}  // namespace

TEST_CASE("lowbit-import writes a checkpoint that rebuilds the ONNX network", "[apps][onnx]") {
  Fixture f;
  const fs::path ckpt = f.root.dir("plain") / "net.ckpt";
  const CommandResult r = run_command(f.import("--dataset mnist --out " + ckpt.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("opset 13") != std::string::npos);
  CHECK(r.output.find("lowbit-test") != std::string::npos);  // the producer

  // The checkpoint keeps the file, and rebuilds the network with the same logits.
  CHECK(*onnx_graph_blob(load_checkpoint(ckpt.string())) == small_mnist_net());
  const TrainedModel loaded = load_trained_model(ckpt.string());
  CHECK(loaded.config.model == "onnx");
  CHECK(loaded.config.dataset == "mnist");
  const OnnxImport direct = import_onnx(f.onnx.string());
  Rng rng(9);
  const Tensor x = random_tensor({3, 1, 28, 28}, rng);
  NoGradGuard no_grad;
  loaded.model->eval();
  direct.model->eval();
  CHECK(loaded.model->forward(x).to_vector() == direct.model->forward(x).to_vector());
}

TEST_CASE("lowbit-eval scores an imported model with the normalization given to lowbit-import",
          "[apps][onnx]") {
  Fixture f;
  const fs::path dir = f.root.dir("normalized");
  const fs::path ckpt = dir / "net.ckpt", json = dir / "eval.json";
  const CommandResult r =
      run_command(f.import("--dataset mnist --mean 0.5 --std 0.25 --out " + ckpt.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("mean (0.5) and std (0.25)") != std::string::npos);
  const CommandResult e =
      run_command(std::string(LOWBIT_EVAL_BIN) + " --threads 1 --checkpoint " + ckpt.string() +
                  " --data-dir " + f.data.string() + " --json " + json.string() + " --csv " +
                  (dir / "c.csv").string() + " --svg " + (dir / "c.svg").string());
  INFO(e.output);
  REQUIRE(e.status == 0);
  const nlohmann::json j = nlohmann::json::parse(read_text(json));
  CHECK(j["model"] == "onnx");

  // The same network on the same images normalized as (x - 0.5) / 0.25, computed here.
  const Dataset test = load_dataset("mnist", f.data.string()).test;
  const OnnxImport direct = import_onnx(f.onnx.string());
  direct.model->eval();
  BatchLoaderOptions o;
  o.batch_size = 64;
  BatchLoader loader(test, Normalization{{0.5f}, {0.25f}}, o);
  const Evaluation expected = evaluate(*direct.model, loader, 10);
  CHECK(j["test_accuracy"].get<double>() == Approx(expected.accuracy));
  CHECK(j["test_loss"].get<double>() == Approx(expected.loss).epsilon(1e-6));
  // With lowbit's MNIST normalization the loss differs: the flags did reach the evaluation.
  BatchLoader plain(test, Normalization{dataset_info("mnist").mean, dataset_info("mnist").stddev},
                    o);
  CHECK(evaluate(*direct.model, plain, 10).loss != Approx(expected.loss).epsilon(1e-6));
}

TEST_CASE("lowbit-quantize and lowbit-ptq take an imported checkpoint", "[apps][onnx]") {
  Fixture f;
  const fs::path dir = f.root.dir("quantize");
  const fs::path ckpt = dir / "net.ckpt";
  REQUIRE(run_command(f.import("--dataset mnist --out " + ckpt.string())).status == 0);

  const fs::path q = dir / "q8";
  const CommandResult r =
      run_command(std::string(LOWBIT_QUANTIZE_BIN) + " --threads 1 --checkpoint " + ckpt.string() +
                  " --data-dir " + f.data.string() +
                  " --bits 8 --epochs 1 --data-fraction 0.5 --out " + q.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("BN folding: 1 folded") != std::string::npos);
  // The quantized checkpoint carries the ONNX file and rebuilds the quantized network alone.
  const QuantizedModel loaded = load_quantized_checkpoint((q / "quantized.ckpt").string());
  CHECK(loaded.train.model == "onnx");
  CHECK(loaded.layers.size() == 3);  // two convolutions and the dense layer
  NoGradGuard no_grad;
  Rng rng(2);
  CHECK(loaded.model->forward(random_tensor({2, 1, 28, 28}, rng)).shape() == Shape({2, 10}));

  // The quantized checkpoint exports as QDQ, and its file is read back by lowbit-export itself.
  const CommandResult exported =
      run_command(std::string(LOWBIT_EXPORT_BIN) + " --threads 1 --checkpoint " +
                  (q / "quantized.ckpt").string() + " --out " + (dir / "q8.onnx").string());
  INFO(exported.output);
  CHECK(exported.status == 0);
  CHECK(exported.output.find("FAT (lowbit-quantize): 8-bit vector symmetric thresholds, QDQ") !=
        std::string::npos);
  std::map<std::string, std::string> metadata = onnx_metadata(dir / "q8.onnx");
  CHECK(metadata["bits"] == "8");
  CHECK(metadata["quantization"] ==
        "FAT (lowbit-quantize): 8-bit vector symmetric thresholds, QDQ");

  const fs::path ptq = dir / "ptq";
  const CommandResult p = run_command(std::string(LOWBIT_PTQ_BIN) + " --threads 1 --checkpoint " +
                                      ckpt.string() + " --data-dir " + f.data.string() +
                                      " --bits 8 --no-compress --out " + ptq.string());
  INFO(p.output);
  REQUIRE(p.status == 0);
  CHECK(nlohmann::json::parse(read_text(ptq / "ptq.json"))["model"] == "onnx");
}

TEST_CASE("export, import and evaluate give the same accuracy (lowbit-export round trip)",
          "[apps][onnx]") {
  Fixture f;
  const fs::path dir = f.root.dir("round_trip");
  REQUIRE(run_command(f.import("--dataset mnist --mean 0.5 --std 0.25 --out " +
                               (dir / "first.ckpt").string()))
              .status == 0);
  const CommandResult exported =
      run_command(std::string(LOWBIT_EXPORT_BIN) + " --threads 1 --checkpoint " +
                  (dir / "first.ckpt").string() + " --out " + (dir / "again.onnx").string());
  INFO(exported.output);
  REQUIRE(exported.status == 0);
  CHECK(exported.output.find("its logits match the model's") != std::string::npos);
  // The metadata carries the normalization, which the second import is given from it.
  REQUIRE(run_command(std::string(LOWBIT_IMPORT_BIN) + " --threads 1 " +
                      (dir / "again.onnx").string() + " --dataset mnist --mean 0.5 --std 0.25 " +
                      "--out " + (dir / "second.ckpt").string())
              .status == 0);
  auto evaluate_json = [&](const std::string& name) {
    const fs::path json = dir / (name + ".json");
    const CommandResult e =
        run_command(std::string(LOWBIT_EVAL_BIN) + " --threads 1 --checkpoint " +
                    (dir / (name + ".ckpt")).string() + " --data-dir " + f.data.string() +
                    " --json " + json.string() + " --csv " + (dir / (name + ".csv")).string() +
                    " --svg " + (dir / (name + ".svg")).string());
    INFO(e.output);
    REQUIRE(e.status == 0);
    return nlohmann::json::parse(read_text(json));
  };
  const nlohmann::json first = evaluate_json("first"), second = evaluate_json("second");
  CHECK(second["test_accuracy"] == first["test_accuracy"]);
  CHECK(second["test_loss"].get<double>() ==
        Approx(first["test_loss"].get<double>()).epsilon(1e-6));

  std::map<std::string, std::string> metadata = onnx_metadata(dir / "again.onnx");
  CHECK(metadata["dataset"] == "mnist");
  CHECK(metadata["input_mean"] == "0.5");
  CHECK(metadata["input_std"] == "0.25");
  CHECK(metadata["classes"] == "0,1,2,3,4,5,6,7,8,9");
  CHECK(metadata.count("quantization") == 0);  // a float model
  CHECK(metadata["lowbit_version"] == "0.1.0");

  // A file is never replaced without --overwrite.
  expect_error(
      run_command(std::string(LOWBIT_EXPORT_BIN) + " --checkpoint " +
                  (dir / "first.ckpt").string() + " --out " + (dir / "again.onnx").string()),
      "already exists: pass --overwrite");
}

TEST_CASE("lowbit-import refuses bad input with one line and writes nothing", "[apps][onnx]") {
  Fixture f;
  const fs::path dir = f.root.dir("errors");
  const fs::path out = dir / "net.ckpt";
  expect_error(run_command(f.import("--dataset cifar10 --out " + out.string())),
               "expected N x 3 x 32 x 32 images of cifar10");
  expect_error(run_command(f.import("--dataset mnist --mean 0.1,0.2 --out " + out.string())),
               "the input mean has 2 values; expected one per channel (1 for mnist)");
  expect_error(run_command(f.import("--dataset mnist --std 0 --out " + out.string())),
               "expected positive standard deviations");
  expect_error(run_command(f.import("--dataset imagenet --out " + out.string())), "imagenet");
  expect_error(run_command(std::string(LOWBIT_IMPORT_BIN) + " " + (dir / "none.onnx").string() +
                           " --dataset mnist --out " + out.string()),
               "none.onnx: file not found");
  const fs::path junk = dir / "junk.onnx";
  std::ofstream(junk) << "not a protobuf at all";
  expect_error(run_command(std::string(LOWBIT_IMPORT_BIN) + " " + junk.string() +
                           " --dataset mnist --out " + out.string()),
               "junk.onnx: not an ONNX model");
  expect_error(run_command(f.import("--dataset mnist")), "--out");
  CHECK_FALSE(fs::exists(out));

  // An existing checkpoint is kept unless --overwrite says otherwise.
  REQUIRE(run_command(f.import("--dataset mnist --out " + out.string())).status == 0);
  expect_error(run_command(f.import("--dataset mnist --out " + out.string())),
               "already exists: pass --overwrite");
  CHECK(run_command(f.import("--dataset mnist --overwrite --out " + out.string())).status == 0);
}

TEST_CASE("lowbit-export writes a power-of-two run with its grid weights and levels",
          "[apps][onnx]") {
  Fixture f;
  const fs::path dir = f.root.dir("pow2");
  const CommandResult trained =
      run_command(std::string(LOWBIT_TRAIN_BIN) +
                  " --threads 1 --model lenet5 --dataset mnist --data-dir " + f.data.string() +
                  " --weights pow2 --act pow2 --epochs 1 --batch-size 50 --val-split 50 --out " +
                  (dir / "run").string());
  INFO(trained.output);
  REQUIRE(trained.status == 0);
  const fs::path onnx = dir / "pow2.onnx";
  const CommandResult exported =
      run_command(std::string(LOWBIT_EXPORT_BIN) + " --threads 1 --checkpoint " +
                  (dir / "run" / "best.ckpt").string() + " --out " + onnx.string());
  INFO(exported.output);
  REQUIRE(exported.status == 0);
  CHECK(exported.output.find("not read back") != std::string::npos);

  std::map<std::string, std::string> metadata = onnx_metadata(onnx);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_text(onnx)));
  CHECK(metadata["weight_grid"] == "0, +-2^k for k = -3..0");
  CHECK(metadata["activation_levels"].find("3 bits, q2 = 0.125") == 0);
  // Every weight of the grid layers (all but the first, which the paper keeps in float) is 0 or
  // +-2^k, k = -3..0.
  int grid_tensors = 0;
  for (const onnx::TensorProto& t : proto.graph().initializer()) {
    const bool weight =
        t.name().size() > 7 && t.name().compare(t.name().size() - 7, 7, ".weight") == 0;
    if (!weight || t.name().rfind("conv1.", 0) == 0 || t.dims_size() < 2) continue;
    ++grid_tensors;
    std::vector<float> values(static_cast<size_t>(t.raw_data().size() / 4));
    std::memcpy(values.data(), t.raw_data().data(), t.raw_data().size());
    for (float v : values) {
      const float a = std::fabs(v);
      INFO(t.name() << " holds " << v);
      CHECK((a == 0.0f || a == 0.125f || a == 0.25f || a == 0.5f || a == 1.0f));
    }
  }
  CHECK(grid_tensors == 4);  // conv2 and the three dense layers
  int greater = 0;
  for (const onnx::NodeProto& n : proto.graph().node()) greater += n.op_type() == "Greater";
  CHECK(greater == 4 * 2);  // four activations, two thresholds each at 3 bits

  // A PTQ cell quantizes float models only.
  expect_error(run_command(std::string(LOWBIT_EXPORT_BIN) + " --checkpoint " +
                           (dir / "run" / "best.ckpt").string() + " --ptq sym-4 --out " +
                           (dir / "ptq.onnx").string()),
               "holds pow2 weights and pow2 activations; expected a float model");
}

TEST_CASE("lowbit-export --ptq writes one cell of lowbit-ptq's sweep and reads it back",
          "[apps][onnx][ptq]") {
  Fixture f;
  const fs::path dir = f.root.dir("ptq_cell");
  const fs::path checkpoint = dir / "net.ckpt";
  REQUIRE(run_command(f.import("--dataset mnist --out " + checkpoint.string())).status == 0);
  auto export_cell = [&](const std::string& flags, const std::string& name) {
    return run_command(std::string(LOWBIT_EXPORT_BIN) + " --threads 1 --checkpoint " +
                       checkpoint.string() + " " + flags + " --out " + (dir / name).string());
  };
  const CommandResult sym = export_cell("--ptq sym-4 --granularity channel", "sym4.onnx");
  INFO(sym.output);
  REQUIRE(sym.status == 0);
  CHECK(sym.output.find("its logits match the model's") != std::string::npos);
  std::map<std::string, std::string> metadata = onnx_metadata(dir / "sym4.onnx");
  CHECK(metadata["quantization"] ==
        "PTQ (lowbit-ptq, Nayak et al.): sym-4 per channel, weights only; batch norm: affine; "
        "biases quantized");
  CHECK(metadata["bits"] == "4");
  const CommandResult asym = export_cell("--ptq asym-3 --bn none --skip-bias", "asym3.onnx");
  INFO(asym.output);
  CHECK(asym.status == 0);
  CHECK(onnx_metadata(dir / "asym3.onnx")["codes"].find("uint8") != std::string::npos);

  expect_error(export_cell("--ptq sym-1", "bad.onnx"),
               "--ptq sym-1: quantization bit width 1 is out of range for sym; expected 2..16");
  expect_error(export_cell("--ptq sym", "bad.onnx"), "--ptq sym: quantization cell 'sym'");
  expect_error(export_cell("--granularity channel", "bad.onnx"), "--granularity requires --ptq");
  CHECK_FALSE(fs::exists(dir / "bad.onnx"));
}
