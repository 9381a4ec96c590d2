// The integer runtime (core/runtime) beside lowbit's float inference, side by side in one run:
// images per second at batch 128 and milliseconds per image at batch 1, on zoo models quantized
// to 8 and 4 bits (BN folded, calibrated uniform quantizers, as lowbit-quantize leaves them), with
// each integer kernel this CPU runs. Random weights and images: speed does not depend on them.
// With --pow2, power-of-two networks instead (grid weights 0, +-2^-3..1, 3-bit power-of-two
// activations, BN after each layer, the first layer float, as lowbit-train --weights pow2 --act
// pow2 builds them): the float simulation, lowbit's float model of the same architecture with
// ReLU (LeNet-5: the classic one, the seed paper's baseline), and the runtime with the int8 (vnni),
// int16 (avx2) and shift-add kernels.
//   runtime_bench [--quick] [--threads 2] [--models lenet5 resnet20 resnet18] [--bits 8] [--pow2]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "apps/ptq/ptq_size.h"
#include "bench/timing.h"
#include "bench/zoo_setup.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"
#include "layers/batch_norm.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/integer_model.h"
#include "models/transforms/weight_grid.h"

using namespace lowbit;
using bench::Inputs;
using bench::random_inputs;
using bench::runtime_program;

namespace {

struct Setup {
  std::shared_ptr<Module> float_model;  // BN kept, as lowbit-eval runs a lowbit-train checkpoint
  std::unique_ptr<IntegerModel> integer;
};

Setup build(const std::string& name, int bits, const Tensor& calibration) {
  return {bench::random_zoo_model(name), bench::quantized_zoo_model(name, bits, calibration)};
}

// One line of the table: `run` timed on the batch (images per second) and on one image (ms).
void time_row(const std::string& model, const std::string& what, int reps, const Tensor& images,
              const Tensor& one, const std::function<void(const Tensor&)>& run) {
  const double t_batch = bench::best_seconds(reps, [&] { run(images); });
  const double t_one = bench::best_seconds(reps * 4, [&] { run(one); });
  std::printf("%-9s %-22s %14.0f %14.3f\n", model.c_str(), what.c_str(), images.size(0) / t_batch,
              1e3 * t_one);
  std::fflush(stdout);
}

// A row for each of `kernels` that this CPU runs, all on the same program; every kernel computes
// the same integers, so a kernel whose logits differ from the first one's is reported.
void time_kernels(const std::string& model, const runtime::Program& program,
                  std::initializer_list<runtime::GemmKernel> kernels, const Inputs& in, int reps,
                  int threads) {
  const int64_t batch = in.images.size(0);
  std::vector<float> reference;
  for (const runtime::GemmKernel kernel : kernels) {
    if (!runtime::cpu_supports(kernel)) continue;
    runtime::Engine engine(program, kernel);
    std::vector<float> logits(static_cast<size_t>(batch * 10));
    time_row(model, "runtime " + runtime::kernel_name(kernel), reps, in.images, in.one,
             [&](const Tensor& x) { engine.run(x.data(), x.size(0), logits.data(), threads); });
    engine.run(in.images.data(), batch, logits.data(), threads);
    if (reference.empty()) reference = logits;
    if (logits != reference)
      std::printf("  (%s: logits differ!)\n", runtime::kernel_name(kernel).c_str());
  }
}

// A power-of-two network of the zoo with random grid weights and BN statistics, and its integer
// form; its float twin with ReLU (no BN for LeNet-5, as lowbit-train builds it with --act relu).
struct Pow2Setup {
  std::shared_ptr<Module> simulated, float_relu;
  std::unique_ptr<IntegerModel> integer;
};

Pow2Setup build_pow2(const std::string& name) {
  ModelOptions options;
  if (name == "lenet5") {
    options.in_channels = 1;
    options.image_size = 28;
  }
  Pow2Setup s;
  Rng rng(1);
  s.float_relu = make_model(name, options, rng);
  s.float_relu->eval();
  options.activation.kind = ActivationSpec::Kind::kPow2;
  s.simulated = make_model(name, options, rng);
  Pow2Weights pow2;
  pow2.grid = grid_weight_parameters(*s.simulated, false, true);
  pow2.min_exp = -3;
  pow2.input_bound = 2.82;  // MNIST's (1 - 0.1307) / 0.3081
  for (const Parameter& g : pow2.grid) {
    float* w = g.tensor.data();
    for (int64_t i = 0; i < g.tensor.numel(); ++i) {
      const float u = rng.uniform(-1.0f, 1.0f);
      w[i] =
          std::fabs(u) < 0.2f
              ? 0.0f
              : std::copysign(
                    std::ldexp(1.0f, static_cast<int>(std::floor(rng.uniform(-3.0f, 0.99f)))), u);
    }
  }
  use_exact_sums(*s.simulated, pow2.grid);
  use_wide_sums(*s.simulated, pow2.grid);
  for_each_module(*s.simulated, [&](Module& module) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&module))
      for (int64_t k = 0; k < bn->channels(); ++k)
        bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
  });
  s.simulated->eval();
  s.integer = std::make_unique<IntegerModel>(*s.simulated, pow2);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"runtime_bench: the integer runtime beside lowbit's float inference"};
  bool quick = false;
  int threads = 2, bits = 8, reps = 5;
  std::vector<std::string> models{"lenet5", "resnet20", "resnet18"};
  app.add_flag("--quick", quick, "one repetition, batch 16 (a smoke test)");
  app.add_option("--threads", threads, "threads for every run")->check(CLI::Range(1, 1024));
  app.add_option("--bits", bits, "weight and activation bits")->check(CLI::Range(2, 8));
  app.add_option("--models", models, "zoo models to run");
  bool sizes = false;
  app.add_flag("--sizes", sizes,
               "instead of speed: each model's packed file size at 8, 4, 3 and 2 bits beside its "
               "float32 parameters and buffers, raw and xz-compressed");
  bool pow2 = false;
  app.add_flag("--pow2", pow2,
               "power-of-two networks (lenet5, resnet20): float, the float simulation and the "
               "runtime with each kernel, the shift-add one among them");
  CLI11_PARSE(app, argc, argv);
  if (quick) reps = 1;
  if (sizes) {
    std::printf("%-9s %12s %12s %10s %10s %10s %10s\n", "model", "float32 B", "xz float B", "8-bit",
                "4-bit", "3-bit", "2-bit");
    for (const std::string& name : models) {
      const Inputs in = random_inputs(name, 16, -2.0f, 2.0f);
      int64_t float_bytes = 0;
      std::printf("%-9s", name.c_str());
      for (int b : {8, 4, 3, 2}) {
        Setup s = build(name, b, in.images);
        if (float_bytes == 0) {  // every parameter and buffer as float32 (apps/ptq/ptq_size.h)
          const std::vector<uint8_t> floats = float_model_bytes(*s.float_model);
          float_bytes = static_cast<int64_t>(floats.size());
          std::printf(" %12lld %12lld", static_cast<long long>(float_bytes),
                      static_cast<long long>(xz_size(floats)));
        }
        const auto bytes =
            static_cast<double>(runtime::encode_program(runtime_program(*s.integer, in)).size());
        std::printf(" %9.1fx", float_bytes / bytes);  // how many times smaller than float32
        std::fflush(stdout);
      }
      std::printf("\n");
    }
    return 0;
  }
  const int64_t batch = quick ? 16 : 128;
  set_num_threads(threads);
  if (pow2) {
    std::printf(
        "runtime_bench --pow2: %d threads, weights 0, +-2^-3..1, 3-bit power-of-two activations, "
        "OpenBLAS core %s, best of %d\n",
        threads, blas_core_name(), reps);
    std::printf("%-9s %-22s %14s %14s\n", "model", "inference", "img/s (b=128)", "ms/img (b=1)");
    for (const std::string& name : models) {
      if (name != "lenet5" && name != "resnet20") continue;
      const Inputs in = random_inputs(name, batch, -0.4f, 2.8f);
      const Tensor& images = in.images;
      Pow2Setup s = build_pow2(name);
      NoGradGuard no_grad;
      auto row = [&](const std::string& what, const std::function<void(const Tensor&)>& run) {
        time_row(name, what, reps, images, in.one, run);
      };
      row("float, ReLU", [&](const Tensor& x) { (*s.float_relu)(x); });
      row("float simulation", [&](const Tensor& x) { (*s.simulated)(x); });
      time_kernels(
          name, runtime_program(*s.integer, in),
          {runtime::GemmKernel::kVnni, runtime::GemmKernel::kAvx2, runtime::GemmKernel::kShift}, in,
          reps, threads);
    }
    return 0;
  }
  std::printf("runtime_bench: %d threads, %d-bit, OpenBLAS core %s, best of %d\n", threads, bits,
              blas_core_name(), reps);
  std::printf("%-9s %-22s %14s %14s\n", "model", "inference", "img/s (b=128)", "ms/img (b=1)");
  for (const std::string& name : models) {
    const Inputs in = random_inputs(name, batch, -2.0f, 2.0f);
    const Tensor& images = in.images;
    Setup s = build(name, bits, images);

    NoGradGuard no_grad;
    auto row = [&](const std::string& what, const std::function<void(const Tensor&)>& run) {
      time_row(name, what, reps, images, in.one, run);
    };
    row("float", [&](const Tensor& x) { (*s.float_model)(x); });
    row("integer (check)", [&](const Tensor& x) { (*s.integer)(x); });
    time_kernels(name, runtime_program(*s.integer, in),
                 {runtime::GemmKernel::kVnni, runtime::GemmKernel::kAvx2}, in, reps, threads);
  }
  return 0;
}
