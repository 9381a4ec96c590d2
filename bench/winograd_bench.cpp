// Winograd F(4x4, 3x3) beside im2col + sgemm: GFLOP/s of the forward, the input gradient and the
// weight gradient on the CIFAR ResNet-18, ResNet-20 and VGG-7 3x3 stride-1 layer shapes, all
// counted as the direct convolution's 2 * MACs so that the numbers compare; "uses" says which path
// conv2d_forward / conv2d_backward_input take for the shape, then conv2d_backward_weight's.
// Usage: winograd_bench [--quick] [--cpu] [--threads 1|2] [--batch N] [--layer NAME-SUBSTRING]
//   --cpu times process CPU seconds instead of wall seconds (for a loaded machine; meaningful
//   for one thread).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "bench/bench_flags.h"
#include "bench/timing.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/kernels/conv2d_kernels.h"
#include "layers/kernels/winograd3x3.h"

using namespace lowbit;

namespace {

int run(bool quick, bool cpu, int64_t batch, const std::vector<int>& thread_counts,
        const std::string& only) {
  auto best_seconds = cpu ? bench::best_cpu_seconds : bench::best_seconds;
  if (batch <= 0) batch = quick ? 16 : 128;
  const int reps = quick ? 1 : 3;
  struct Layer {
    const char* name;
    int64_t in, out, side;
  };
  const Layer layers[] = {{"r18 3->64 32x32", 3, 64, 32},     {"r18 64ch 32x32", 64, 64, 32},
                          {"r18 128ch 16x16", 128, 128, 16},  {"r18 256ch 8x8", 256, 256, 8},
                          {"r18 512ch 4x4", 512, 512, 4},     {"r20 16ch 32x32", 16, 16, 32},
                          {"r20 32ch 16x16", 32, 32, 16},     {"r20 64ch 8x8", 64, 64, 8},
                          {"vgg7 128ch 32x32", 128, 128, 32}, {"vgg7 256ch 16x16", 256, 256, 16},
                          {"vgg7 512ch 8x8", 512, 512, 8}};
  std::printf(
      "winograd_bench: batch %lld, OpenBLAS core %s, best of %d%s, GFLOP/s of the direct "
      "convolution\n",
      static_cast<long long>(batch), blas_core_name(), reps, cpu ? " (CPU time)" : "");
  std::printf("%-17s %3s | %7s %8s %6s | %7s %8s %6s | %7s %8s %6s | %s\n", "layer", "thr", "fwd",
              "winograd", "ratio", "dinput", "winograd", "ratio", "dweight", "winograd", "ratio",
              "uses");
  Rng rng(0);
  for (const Layer& l : layers) {
    if (!only.empty() && std::string(l.name).find(only) == std::string::npos) continue;
    const kernels::ConvGeometry g{batch, l.in, l.side, l.side, l.out, 3, 3, 1, 1, 1};
    const double flops = 2.0 * batch * l.side * l.side * l.in * l.out * 9;
    std::vector<float> x(static_cast<size_t>(batch * l.in * l.side * l.side)), dx(x.size());
    std::vector<float> y(static_cast<size_t>(batch * l.out * l.side * l.side));
    std::vector<float> w(static_cast<size_t>(l.out * l.in * 9)), dw(w.size());
    for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
    for (float& v : w) v = rng.uniform(-1.0f, 1.0f);
    for (int threads : thread_counts) {
      set_num_threads(threads);
      using namespace kernels;
      const float *xp = x.data(), *wp = w.data();
      const double fwd =
          best_seconds(reps, [&] { conv2d_forward_im2col(g, xp, wp, nullptr, y.data()); });
      const double wfwd =
          best_seconds(reps, [&] { winograd3x3_forward(g, xp, wp, nullptr, y.data()); });
      const double din = best_seconds(
          reps, [&] { conv2d_backward_input_im2col(g, y.data(), wp, dx.data(), true); });
      const double wdin =
          best_seconds(reps, [&] { winograd3x3_backward_input(g, y.data(), wp, dx.data(), true); });
      // y stands in for dy (the same shape); dw accumulates across repetitions, which costs the
      // same.
      const float* dyp = y.data();
      const double dwt = best_seconds(
          reps, [&] { conv2d_backward_weight_im2col(g, xp, dyp, dw.data(), nullptr); });
      const double wdwt =
          best_seconds(reps, [&] { winograd3x3_backward_weight(g, xp, dyp, dw.data()); });
      auto gf = [&](double s) { return flops / s * 1e-9; };
      auto path = [](bool winograd) { return winograd ? "winograd" : "im2col"; };
      std::printf(
          "%-17s %3d | %7.1f %8.1f %5.2fx | %7.1f %8.1f %5.2fx | %7.1f %8.1f %5.2fx | %s, %s\n",
          l.name, threads, gf(fwd), gf(wfwd), fwd / wfwd, gf(din), gf(wdin), din / wdin, gf(dwt),
          gf(wdwt), dwt / wdwt, path(conv2d_uses_winograd(g)),
          path(conv2d_backward_weight_uses_winograd(g)));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "winograd_bench: im2col vs Winograd GFLOP/s, forward, input and weight gradient, on "
      "ResNet-18/20 and "
      "VGG-7 CIFAR shapes"};
  bool quick = false, cpu = false;
  int64_t batch = 0;
  std::vector<int> thread_counts{1, 2};
  std::string only;
  bench::add_run_flags(app, quick, cpu, thread_counts);
  app.add_option("--batch", batch, "images per call (default 128, 16 with --quick)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--layer", only, "only layers whose name contains this text (e.g. r20, 8x8)");
  return run_cli(app, argc, argv, "winograd_bench",
                 [&] { return run(quick, cpu, batch, thread_counts, only); });
}
