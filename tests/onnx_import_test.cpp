// ONNX import: a graph written here with the onnx.proto classes imports to the modules it
// describes (exact values), every refusal names the node and what was expected, and networks
// built and exported by PyTorch (tests/onnx/torch_models.py, when python3-torch is installed)
// give PyTorch's logits within 1e-4 of the logit scale.
#include "models/onnx/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/concatenate.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/reshape.h"
#include "tests/gradcheck.h"
#include "tests/not_regular_files.h"
#include "tests/onnx_graph_writer.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

using namespace lowbit;
using lowbit::testing::GraphWriter;
using lowbit::testing::random_tensor;

namespace {

const lowbit::testing::TempRoot temp_root("lowbit_onnx_import_test");

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v;
  float x;
  while (in.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}

}  // namespace

TEST_CASE("an ONNX graph of every supported operator imports to the layers it describes",
          "[onnx]") {
  Rng rng(11);
  const Tensor w1 = random_tensor({4, 2, 3, 3}, rng), b1 = random_tensor({4}, rng);
  const Tensor scale = random_tensor({4}, rng, 0.5f, 1.5f), shift = random_tensor({4}, rng);
  const Tensor mean = random_tensor({4}, rng, -0.2f, 0.2f),
               var = random_tensor({4}, rng, 0.5f, 1.5f);
  const Tensor w2 = random_tensor({4, 2, 1, 1}, rng);
  const Tensor fc = random_tensor({3, 8}, rng), fc_bias = random_tensor({3}, rng);
  GraphWriter w({2, 2, 6, 6});
  w.initializer("w1", w1);
  w.initializer("b1", b1);
  w.initializer("scale", scale);
  w.initializer("shift", shift);
  w.initializer("mean", mean);
  w.initializer("var", var);
  w.initializer("w2", w2);
  w.initializer("fc", fc);
  w.initializer("fc_bias", fc_bias);
  w.initializer("six", Tensor::from_vector({}, {6.0f}));
  w.initializer("zero", Tensor::from_vector({}, {0.0f}));
  w.ints("pads", {0, 0, 1, 1, 0, 0, 1, 1});
  auto* conv = w.node("Conv", {"input", "w1", "b1"}, "conv");
  GraphWriter::attribute(conv, "kernel_shape", {3, 3});
  GraphWriter::attribute(conv, "pads", {1, 1, 1, 1});
  w.node("BatchNormalization", {"conv", "scale", "shift", "mean", "var"}, "bn");
  w.node("Clip", {"bn", "zero", "six"}, "relu6");
  auto* side = w.node("Conv", {"input", "w2"}, "side");
  GraphWriter::attribute(side, "kernel_shape", {1, 1});
  w.node("Add", {"relu6", "side"}, "sum");
  w.node("Relu", {"sum"}, "relu");
  w.node("Concat", {"relu", "side"}, "cat");
  GraphWriter::attribute(w.graph->mutable_node(w.graph->node_size() - 1), "axis", int64_t{1});
  w.node("Pad", {"cat", "pads"}, "padded");
  auto* pool = w.node("AveragePool", {"padded"}, "pool");
  GraphWriter::attribute(pool, "kernel_shape", {3, 3});
  GraphWriter::attribute(pool, "strides", {2, 2});
  w.node("GlobalAveragePool", {"pool"}, "gap");
  w.node("Flatten", {"gap"}, "flat");
  auto* gemm = w.node("Gemm", {"flat", "fc", "fc_bias"}, "logits");
  GraphWriter::attribute(gemm, "transB", int64_t{1});
  const OnnxImport imported = w.import("logits");
  CHECK(imported.opset == 13);
  CHECK(imported.input_dims == std::vector<int64_t>{2, 2, 6, 6});
  GraphModel& model = *imported.model;
  model.eval();

  // The same network from lowbit's ops.
  const Tensor x = random_tensor({2, 2, 6, 6}, rng);
  NoGradGuard no_grad;
  const Tensor bn = batch_norm(conv2d(x, w1, b1, {1, 1, 1}), scale, shift, mean, var, false);
  const Tensor s = conv2d(x, w2, Tensor(), {1, 0, 1});
  const Tensor cat = concatenate({relu(add(relu6(bn), s)), s}, 1);
  const Tensor expected = linear(global_avg_pool(avg_pool2d(cat, 3, 2, 1)), fc, fc_bias);
  const Tensor y = model(x);
  REQUIRE(y.shape() == expected.shape());
  const std::vector<float> got = y.to_vector(), want = expected.to_vector();
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-6));
  CHECK(model.child("conv").type_name() == "Conv2d");
  CHECK(model.child("bn").type_name() == "BatchNorm");
  CHECK(model.child("relu6").type_name() == "ReLU6");
  CHECK(model.child("pool").type_name() == "AvgPool2d");
}

TEST_CASE("MatMul by a constant and the Add of its bias import as one Linear", "[onnx]") {
  Rng rng(12);
  const Tensor b = random_tensor({5, 3}, rng), bias = random_tensor({3}, rng);
  GraphWriter w({4, 5});
  w.initializer("b", b);
  w.initializer("bias", bias);
  w.node("MatMul", {"input", "b"}, "mm");
  w.node("Add", {"bias", "mm"}, "y");
  const OnnxImport imported = w.import("y");
  REQUIRE(imported.model->children().size() == 1);
  const Linear& layer = dynamic_cast<const Linear&>(imported.model->child("mm"));
  CHECK(layer.bias().to_vector() == bias.to_vector());
  const Tensor x = random_tensor({4, 5}, rng);
  const std::vector<float> y = (*imported.model)(x).to_vector();
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t j = 0; j < 3; ++j) {
      double want = bias.data()[j];
      for (int64_t k = 0; k < 5; ++k) want += x.data()[n * 5 + k] * b.data()[k * 3 + j];
      CHECK(y[n * 3 + j] == Approx(want).margin(1e-5));
    }
  }
}

TEST_CASE("a Reshape to the traced batch size keeps any batch size", "[onnx]") {
  GraphWriter w({2, 3, 2, 2});
  w.ints("shape", {2, -1});
  w.node("Reshape", {"input", "shape"}, "flat");
  const OnnxImport imported = w.import("flat");
  CHECK((*imported.model)(Tensor::zeros({5, 3, 2, 2})).shape() == Shape({5, 12}));
}

namespace {

// x.view(x.size(0), -1) as PyTorch exports it with a dynamic batch size: Shape, Gather, Unsqueeze,
// Concat, Reshape of `x`. With batch_first false the shape is (-1, N) instead.
OnnxImport import_view(GraphWriter& w, const std::string& x, bool batch_first) {
  w.node("Shape", {x}, "shape");
  w.ints("zero", {0});
  w.graph->mutable_initializer()->rbegin()->clear_dims();  // a scalar index
  w.node("Gather", {"shape", "zero"}, "n");
  w.ints("axes", {0});
  w.node("Unsqueeze", {"n", "axes"}, "n1");
  w.ints("rest", {-1});
  const std::vector<std::string> parts =
      batch_first ? std::vector<std::string>{"n1", "rest"} : std::vector<std::string>{"rest", "n1"};
  GraphWriter::attribute(w.node("Concat", parts, "dims"), "axis", int64_t{0});
  w.node("Reshape", {x, "dims"}, "flat");
  return w.import("flat");
}

}  // namespace

TEST_CASE("a Reshape to a shape computed from Shape keeps any batch size", "[onnx]") {
  GraphWriter w({2, 3, 2, 2});
  w.node("Relu", {"input"}, "r");
  const OnnxImport imported = import_view(w, "r", true);
  CHECK((*imported.model)(Tensor::zeros({5, 3, 2, 2})).shape() == Shape({5, 12}));

  GraphWriter v({2, 3, 2, 2});
  CHECK_THROWS_WITH(import_view(v, "input", false),
                    Catch::Contains("node 'flat' (Reshape): the batch size as a dimension other "
                                    "than the first"));
}

TEST_CASE("ONNX import refuses what lowbit cannot compute, naming the node", "[onnx]") {
  SECTION("an unsupported operator") {
    GraphWriter w({1, 3});
    w.node("Sigmoid", {"input"}, "gate");
    CHECK_THROWS_WITH(w.import("gate"),
                      Catch::StartsWith("test.onnx: node 'gate' (Sigmoid) is not supported"));
  }
  SECTION("a dilated convolution") {
    GraphWriter w({1, 1, 5, 5});
    w.initializer("k", Tensor::zeros({1, 1, 3, 3}));
    auto* n = w.node("Conv", {"input", "k"}, "c");
    GraphWriter::attribute(n, "dilations", {2, 2});
    CHECK_THROWS_WITH(w.import("c"), Catch::Contains("node 'c' (Conv): dilation 2"));
  }
  SECTION("a zero Pad before max pooling") {
    GraphWriter w({1, 1, 4, 4});
    w.ints("pads", {0, 0, 1, 1, 0, 0, 1, 1});
    w.node("Pad", {"input", "pads"}, "p");
    auto* n = w.node("MaxPool", {"p"}, "m");
    GraphWriter::attribute(n, "kernel_shape", {2, 2});
    CHECK_THROWS_WITH(w.import("m"), Catch::Contains("max pooling after a zero Pad"));
  }
  SECTION("weights computed at run time") {
    GraphWriter w({1, 4});
    w.node("Relu", {"input"}, "r");
    w.node("MatMul", {"input", "r"}, "mm");
    CHECK_THROWS_WITH(w.import("mm"), Catch::Contains("is computed at run time"));
  }
  SECTION("an input no node computes") {
    GraphWriter w({1, 4});
    w.node("Relu", {"nowhere"}, "r");
    CHECK_THROWS_WITH(w.import("r"), Catch::Contains("'nowhere' is not computed"));
  }
  SECTION("a file that is not ONNX, and a missing file") {
    const std::string path = (temp_root.dir("bad") / "not.onnx").string();
    std::ofstream(path) << "this is not a protobuf";
    CHECK_THROWS_WITH(import_onnx(path), Catch::Contains("not an ONNX model"));
    CHECK_THROWS_WITH(import_onnx(path + ".missing"),
                      Catch::Contains("not.onnx.missing: file not found"));
    // /dev/zero would be read until memory runs out: refused by kind, as a FIFO or a directory.
    const std::filesystem::path odd = temp_root.dir("bad") / "odd.onnx";
    testing::check_refuses_what_is_not_a_regular_file(odd, [&] { import_onnx(odd.string()); });
  }
}

TEST_CASE("networks built and exported by PyTorch give PyTorch's logits", "[onnx][torch]") {
  if (!lowbit::testing::python_imports("torch", "python3-torch")) return;
  const std::string dir = temp_root.fresh("torch").string();
  const auto made = lowbit::testing::run_command(
      "/usr/bin/python3 " LOWBIT_SOURCE_DIR "/tests/onnx/torch_models.py " + dir + " 2>&1");
  INFO(made.output);
  REQUIRE(made.status == 0);
  std::istringstream manifest(lowbit::testing::read_text(dir + "/manifest.txt"));
  std::string name;
  int64_t n, c, h, w, classes;
  int models = 0;
  while (manifest >> name >> n >> c >> h >> w >> classes) {
    ++models;
    DYNAMIC_SECTION(name) {
      const OnnxImport imported = import_onnx(dir + "/" + name + ".onnx");
      GraphModel& model = *imported.model;
      model.eval();
      const Tensor x =
          Tensor::from_vector({n, c, h, w}, read_floats(dir + "/" + name + ".input.f32"));
      const std::vector<float> want = read_floats(dir + "/" + name + ".logits.f32");
      NoGradGuard no_grad;
      const std::vector<float> got = model(x).to_vector();
      REQUIRE(got.size() == want.size());
      float scale = 0.0f, worst = 0.0f;
      for (size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::abs(want[i]));
        worst = std::max(worst, std::abs(got[i] - want[i]));
      }
      INFO(name << ": worst |lowbit - PyTorch| " << worst << " at logit scale " << scale);
      CHECK(worst <= 1e-4f * scale);
      // The first image alone gives the first row: the batch size is free.
      const Tensor first =
          Tensor::from_vector({1, c, h, w}, std::vector<float>(x.data(), x.data() + c * h * w));
      const std::vector<float> alone = model(first).to_vector();
      for (int64_t k = 0; k < classes; ++k) CHECK(alone[k] == Approx(got[k]).margin(1e-4 * scale));
    }
  }
  CHECK(models == 7);
}
