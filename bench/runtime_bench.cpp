// The integer runtime (core/runtime) beside lowbit's float inference, side by side in one run:
// images per second at batch 128 and milliseconds per image at batch 1, on zoo models quantized
// to 8 and 4 bits (BN folded, calibrated uniform quantizers, as lowbit-quantize leaves them), with
// each integer kernel this CPU runs. Random weights and images: speed does not depend on them.
//   runtime_bench [--quick] [--threads 2] [--models lenet5 resnet20 resnet18] [--bits 8]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/ptq/ptq_size.h"
#include "bench/timing.h"
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

using namespace lowbit;

namespace {

struct Setup {
  std::shared_ptr<Module> float_model;  // BN kept, as lowbit-eval runs a lowbit-train checkpoint
  std::unique_ptr<IntegerModel> integer;
};

Setup build(const std::string& name, int bits, const Tensor& calibration) {
  ModelOptions options;
  if (name == "lenet5") {
    options.in_channels = 1;
    options.image_size = 28;
  }
  // The same seed twice: the same weights and statistics, one copy kept float, one quantized.
  auto make = [&] {
    Rng rng(1);
    std::shared_ptr<Module> m = make_model(name, options, rng);
    for_each_module(*m, [&](Module& module) {
      if (auto* bn = dynamic_cast<BatchNorm*>(&module))
        for (int64_t k = 0; k < bn->channels(); ++k)
          bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
    });
    m->eval();
    return m;
  };
  Setup s;
  s.float_model = make();
  std::shared_ptr<Module> quantized = make();
  fold_batch_norms(*quantized, calibration);
  UniformQuantizationOptions q;
  q.weight_bits = q.input_bits = bits;
  attach_calibrated_quantizers(*quantized, {calibration}, q);
  s.integer = std::make_unique<IntegerModel>(*quantized);
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
  CLI11_PARSE(app, argc, argv);
  if (quick) reps = 1;
  if (sizes) {
    std::printf("%-9s %12s %12s %10s %10s %10s %10s\n", "model", "float32 B", "xz float B", "8-bit",
                "4-bit", "3-bit", "2-bit");
    for (const std::string& name : models) {
      const int64_t channels = name == "lenet5" ? 1 : 3, side = name == "lenet5" ? 28 : 32;
      Rng rng(2);
      Tensor images = Tensor::empty({16, channels, side, side});
      for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = rng.uniform(-2.0f, 2.0f);
      int64_t float_bytes = 0;
      std::printf("%-9s", name.c_str());
      for (int b : {8, 4, 3, 2}) {
        Setup s = build(name, b, images);
        if (float_bytes == 0) {  // every parameter and buffer as float32 (apps/ptq/ptq_size.h)
          const std::vector<uint8_t> floats = float_model_bytes(*s.float_model);
          float_bytes = static_cast<int64_t>(floats.size());
          std::printf(" %12lld %12lld", static_cast<long long>(float_bytes),
                      static_cast<long long>(xz_size(floats)));
        }
        runtime::Program program = s.integer->program();
        program.info.input_dims = {channels, side, side};
        program.info.num_classes = 10;
        const auto bytes = static_cast<double>(runtime::encode_program(program).size());
        std::printf(" %9.1fx", float_bytes / bytes);  // how many times smaller than float32
        std::fflush(stdout);
      }
      std::printf("\n");
    }
    return 0;
  }
  const int64_t batch = quick ? 16 : 128;
  set_num_threads(threads);
  std::printf("runtime_bench: %d threads, %d-bit, OpenBLAS core %s, best of %d\n", threads, bits,
              blas_core_name(), reps);
  std::printf("%-9s %-16s %14s %14s\n", "model", "inference", "img/s (b=128)", "ms/img (b=1)");
  for (const std::string& name : models) {
    const int64_t channels = name == "lenet5" ? 1 : 3, side = name == "lenet5" ? 28 : 32;
    Rng rng(2);
    Tensor images = Tensor::empty({batch, channels, side, side});
    for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = rng.uniform(-2.0f, 2.0f);
    Tensor one = Tensor::empty({1, channels, side, side});
    std::copy(images.data(), images.data() + one.numel(), one.data());
    Setup s = build(name, bits, images);

    NoGradGuard no_grad;
    auto row = [&](const std::string& what, const std::function<void(const Tensor&)>& run) {
      const double t_batch = bench::best_seconds(reps, [&] { run(images); });
      const double t_one = bench::best_seconds(reps * 4, [&] { run(one); });
      std::printf("%-9s %-16s %14.0f %14.3f\n", name.c_str(), what.c_str(), batch / t_batch,
                  1e3 * t_one);
      std::fflush(stdout);
    };
    row("float", [&](const Tensor& x) { (*s.float_model)(x); });
    row("integer (check)", [&](const Tensor& x) { (*s.integer)(x); });
    runtime::Program program = s.integer->program();
    program.info.input_dims = {channels, side, side};
    program.info.num_classes = 10;
    for (auto kernel : {runtime::GemmKernel::kVnni, runtime::GemmKernel::kAvx2}) {
      if (!runtime::cpu_supports(kernel)) continue;
      runtime::Engine engine(program, kernel);
      std::vector<float> logits(static_cast<size_t>(batch * 10));
      row("runtime " + runtime::kernel_name(kernel),
          [&](const Tensor& x) { engine.run(x.data(), x.size(0), logits.data(), threads); });
    }
  }
  return 0;
}
