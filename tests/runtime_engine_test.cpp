// The runtime's interpreter (core/runtime/engine.h): on zoo models quantized as lowbit-quantize
// does, a program compiled from the integer-only model, written to bytes and read back, gives that
// model's logits exactly, with every kernel this CPU runs, image by image and in batches; programs
// whose shapes do not fit are refused naming the operation.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"
#include "models/transforms/integer_model.h"
#include "tests/gradcheck.h"
#include "tests/quantized_models.h"
#include "tests/runtime_programs.h"

using namespace lowbit;
using lowbit::testing::eval_no_grad;
using lowbit::testing::random_tensor;

namespace {

// The integer model's program with the input shape and classes it runs on, through its bytes.
runtime::Program packed_program(const IntegerModel& integer, const Tensor& images,
                                int64_t classes) {
  runtime::Program program = integer.program();
  program.info.input_dims.assign(images.shape().dims().begin() + 1, images.shape().dims().end());
  program.info.num_classes = classes;
  return runtime::decode_program(runtime::encode_program(program), "test.lbm");
}

// A LeNet-5 quantized to 8 bits, symmetric per channel, calibrated on `images` (n, 1, 28, 28).
std::shared_ptr<Module> quantized_lenet5(const Tensor& images, Rng& rng) {
  return lowbit::testing::quantized_zoo_model(
      {"lenet5", 1, 28, 8, Thresholds::kSymmetric, Granularity::kVector, false, false}, images,
      rng);
}

std::vector<runtime::GemmKernel> kernels_here() {
  std::vector<runtime::GemmKernel> kernels;
  for (auto k : {runtime::GemmKernel::kPortable, runtime::GemmKernel::kAvx2,
                 runtime::GemmKernel::kVnni, runtime::GemmKernel::kShift})
    if (runtime::cpu_supports(k)) kernels.push_back(k);
  return kernels;
}

// Every kernel, in a batch over two threads and one image at a time with its layers over two
// threads: the same floats as the integer model, bit for bit.
void check_exact(IntegerModel& integer, const Tensor& images, bool expect_int8) {
  const Tensor want = eval_no_grad(integer, images);
  const int64_t n = images.size(0), classes = want.size(1), size = images.numel() / n;
  const runtime::Program program = packed_program(integer, images, classes);
  for (runtime::GemmKernel kernel : kernels_here()) {
    runtime::Engine engine(program, kernel);
    INFO("kernel " << runtime::kernel_name(kernel));
    if (expect_int8 && kernel == runtime::GemmKernel::kVnni) {
      CHECK(engine.int8_layers() > 0);
      CHECK(engine.int16_layers() == 0);
    }
    std::vector<float> batch(static_cast<size_t>(n * classes));
    engine.run(images.data(), n, batch.data(), 2);
    std::vector<float> single(static_cast<size_t>(n * classes));
    for (int64_t i = 0; i < n; ++i)
      engine.run(images.data() + i * size, 1, single.data() + i * classes, 2);
    int64_t differing = 0;
    for (int64_t j = 0; j < want.numel(); ++j)
      differing += batch[static_cast<size_t>(j)] != want.data()[j] ||
                   single[static_cast<size_t>(j)] != want.data()[j];
    CHECK(differing == 0);
    CHECK(engine.saturated_values() == integer.saturated_values());
    // A chain of layers with residual blocks keeps at most 4 activations at a time: a block's
    // input (its shortcut), the branch's last two, and the sum.
    INFO(engine.values() << " values in " << engine.activation_buffers() << " buffers");
    CHECK(engine.activation_buffers() <= 4);
  }
}

}  // namespace

TEST_CASE("the runtime gives the integer-only model's logits exactly on zoo models", "[runtime]") {
  using lowbit::testing::QuantizedCase;
  std::vector<QuantizedCase> cases = lowbit::testing::quantized_zoo_cases();
  // Narrower codes: 3 and 4 bits, asymmetric 4-bit grids that leave zero, the widest network.
  cases.push_back({"lenet5", 1, 28, 3, Thresholds::kSymmetric, Granularity::kVector, false, false});
  cases.push_back(
      {"resnet20", 3, 32, 4, Thresholds::kAsymmetric, Granularity::kVector, false, false});
  cases.push_back(
      {"resnet18", 3, 32, 4, Thresholds::kSymmetric, Granularity::kVector, false, false});
  for (const QuantizedCase& c : cases) {
    DYNAMIC_SECTION(
        c.model << " " << c.bits << "-bit "
                << (c.thresholds == Thresholds::kSymmetric ? "symmetric" : "asymmetric")) {
      Rng rng(5);
      const std::string name = c.model;
      const int64_t n = name == "resnet18" || name == "resnet50" ? 2 : 8;  // the big ones: 2
      const Tensor images = random_tensor({n, c.channels, c.side, c.side}, rng, -2.0f, 2.0f);
      std::shared_ptr<Module> model = lowbit::testing::quantized_zoo_model(c, images, rng);
      IntegerModel integer(*model);
      check_exact(integer, images, true);
    }
  }
}

TEST_CASE("codes wider than 8 bits run on the int16 kernels, the same on every kernel",
          "[runtime]") {
  // lowbit-quantize stops at 8 bits; asymmetric grids far from zero and files of other tools can
  // hold wider codes. Here the first layer's weight codes are tripled (up to +-381) and the last
  // layer's input codes span -300..300: the uint8 kernel must leave both to the int16 ones, and
  // every kernel must give the portable one's integers.
  Rng rng(6);
  const Tensor images = random_tensor({4, 1, 28, 28}, rng, -2.0f, 2.0f);
  IntegerModel integer(*quantized_lenet5(images, rng));
  runtime::Program program = packed_program(integer, images, 10);
  runtime::ProductOp* first = nullptr;
  runtime::ProductOp* last = nullptr;
  for (runtime::Op& op : program.ops)
    if (op.kind == runtime::OpKind::kProduct) {
      if (!first) first = &op.product;
      last = &op.product;
    }
  for (int16_t& w : first->weight_codes) w = static_cast<int16_t>(3 * w);
  last->code_low = -300;
  last->code_high = 300;
  program = runtime::decode_program(runtime::encode_program(program), "wide.lbm");

  runtime::Engine portable(program, runtime::GemmKernel::kPortable);
  std::vector<float> want(40);
  portable.run(images.data(), 4, want.data(), 1);
  for (runtime::GemmKernel kernel : kernels_here()) {
    runtime::Engine engine(program, kernel);
    INFO("kernel " << runtime::kernel_name(kernel));
    if (kernel == runtime::GemmKernel::kVnni) CHECK(engine.int16_layers() == 2);
    std::vector<float> got(40);
    engine.run(images.data(), 4, got.data(), 2);
    CHECK(got == want);
  }
  // And the change is seen: the logits are not the unchanged model's.
  const Tensor unchanged = eval_no_grad(integer, images);
  CHECK(want != std::vector<float>(unchanged.data(), unchanged.data() + 40));
}

TEST_CASE("the runtime runs imported graphs: sums, concatenations, reshapes", "[runtime]") {
  for (int axis : {1, 2, -1}) {
    DYNAMIC_SECTION("concatenation along axis " << axis) {
      Rng rng(7);
      Tensor images;
      const auto graph = lowbit::testing::quantized_graph_model(rng, images, axis);
      IntegerModel integer(*graph);
      check_exact(integer, images, true);
    }
  }
}

TEST_CASE("the runtime refuses programs whose shapes do not fit, naming the operation",
          "[runtime]") {
  Rng rng(8);
  const Tensor images = random_tensor({2, 1, 28, 28}, rng, -2.0f, 2.0f);
  IntegerModel integer(*quantized_lenet5(images, rng));
  const runtime::Program good = packed_program(integer, images, 10);
  REQUIRE_NOTHROW(runtime::Engine(good));

  runtime::Program wrong_input = good;
  wrong_input.info.input_dims = {3, 28, 28};
  CHECK_THROWS_WITH(runtime::Engine(wrong_input),
                    Catch::Contains("operation 0: expects 1 channels, gets 3"));
  runtime::Program too_small = good;
  too_small.info.input_dims = {1, 2, 2};
  CHECK_THROWS_WITH(runtime::Engine(too_small), Catch::Contains(": a 5x5 kernel on a 1x1 image"));
  runtime::Program classes = good;
  classes.info.num_classes = 7;
  CHECK_THROWS_WITH(runtime::Engine(classes),
                    Catch::Contains("the program ends in 10 values for 7 classes"));
  runtime::Program huge = good;
  huge.info.input_dims = {1, 1 << 20, 1 << 20};
  CHECK_THROWS_WITH(runtime::Engine(huge), Catch::Contains("more than 2^26 values"));
}

TEST_CASE("the runtime's level operation gives the power-of-two activation's levels",
          "[runtime][levels]") {
  runtime::Program p;
  p.info.input_dims = {1, 1, 5};
  p.info.num_classes = 5;
  runtime::Op op;
  op.kind = runtime::OpKind::kLevels;
  op.inputs = {0};
  op.output = 1;
  op.params = {1, 262144, 786432, 524288, 1048576};  // 3 bits, q2 = 1/8: thresholds 1/16, 3/16
  p.ops = {op};
  p.num_values = 2;
  const std::vector<float> x{0.0625f, 0.0626f, -0.19f, 5.0f, -0.0624f};
  std::vector<float> y(5);
  runtime::Engine(p).run(x.data(), 1, y.data());
  CHECK(y == std::vector<float>{0.0f, 0.125f, -0.25f, 0.25f, 0.0f});
  p.ops[0].params[0] = 0;  // unsigned: negative values to 0
  runtime::Engine(p).run(x.data(), 1, y.data());
  CHECK(y == std::vector<float>{0.0f, 0.125f, 0.0f, 0.25f, 0.0f});
  p.ops[0].params = {1, 5, 4, 1, 2};
  CHECK_THROWS_WITH(runtime::Engine(p), Catch::Contains("operation 0: threshold 1 = 4"));
}

TEST_CASE("the shift-add kernel gives the int8 and int16 kernels' logits on power-of-two codes",
          "[runtime][gemm]") {
  const runtime::Program program = lowbit::testing::pow2_program();
  Rng rng(9);
  const Tensor images = random_tensor({6, 2, 5, 5}, rng, -2.0f, 2.0f);
  runtime::Engine portable(program, runtime::GemmKernel::kPortable);
  std::vector<float> want(24);
  portable.run(images.data(), 6, want.data(), 1);
  CHECK(std::any_of(want.begin(), want.end(), [](float v) { return v != 0.0f; }));
  for (runtime::GemmKernel kernel : kernels_here()) {
    runtime::Engine engine(program, kernel);
    INFO("kernel " << runtime::kernel_name(kernel));
    std::vector<float> got(24);
    engine.run(images.data(), 6, got.data(), 2);
    CHECK(got == want);
  }
  runtime::Engine shift(program, runtime::GemmKernel::kShift);
  CHECK(shift.shift_layers() == 2);
  std::vector<float> got(24);
  shift.run(images.data(), 6, got.data(), 2);
  CHECK(got == want);
}
