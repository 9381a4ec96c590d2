// Convolution throughput: GFLOP/s of the im2col + sgemm conv2d forward, input gradient and
// weight gradient (the Winograd path of 3x3 layers: bench/winograd_bench.cpp) on
// the CIFAR ResNet-18 layer shapes at batch 128, beside cblas_sgemm on the equivalent
// matrices (forward M=C_out N=batch*P K=C_in*9; input grad (K x M)(M x N); weight grad
// (M x N)(N x K)), with 1 and 2 threads. 2-thread sgemm is split by columns like
// parallel_gemm. Usage: conv_gflops [--quick] [--cpu] [--threads 1|2] [--layer NAME-SUBSTRING]
//   --cpu times process CPU seconds instead of wall seconds (on a machine shared with other
//   jobs this measures the work done; meaningful for one thread).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
#include "layers/kernels/gemm.h"

using namespace lowbit;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<float> random_buffer(size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

}  // namespace

int run(bool quick, bool cpu, const std::vector<int>& thread_counts, const std::string& only);

int main(int argc, char** argv) {
  CLI::App app{
      "conv_gflops: conv2d forward, input- and weight-gradient GFLOP/s beside sgemm on ResNet-18's "
      "layer shapes"};
  bool quick = false, cpu = false;
  std::vector<int> thread_counts{1, 2};
  std::string only;
  bench::add_run_flags(app, quick, cpu, thread_counts);
  app.add_option("--layer", only, "only layers whose name contains this text (e.g. s2, 8x8)");
  return run_cli(app, argc, argv, "conv_gflops",
                 [&] { return run(quick, cpu, thread_counts, only); });
}

int run(bool quick, bool cpu, const std::vector<int>& thread_counts, const std::string& only) {
  auto best_seconds = cpu ? bench::best_cpu_seconds : bench::best_seconds;
  const int64_t batch = quick ? 16 : 128;
  const int reps = quick ? 1 : 3;
  struct Layer {
    const char* name;
    int64_t c_in, c_out, side, stride;
  };
  const Layer layers[] = {{"64->64 32x32", 64, 64, 32, 1},
                          {"128->128 16x16", 128, 128, 16, 1},
                          {"256->256 8x8", 256, 256, 8, 1},
                          {"512->512 4x4", 512, 512, 4, 1},
                          {"64->128 s2 32x32", 64, 128, 32, 2}};
  std::printf("conv_gflops: batch %lld, OpenBLAS core %s, best of %d%s\n",
              static_cast<long long>(batch), blas_core_name(), reps, cpu ? " (CPU time)" : "");
  std::printf("%-18s %3s | %8s %8s %6s | %8s %8s %6s | %8s %8s %6s\n", "layer", "thr", "fwd",
              "sgemm", "ratio", "dinput", "sgemm", "ratio", "dweight", "sgemm", "ratio");
  Rng rng(0);
  for (const Layer& l : layers) {
    if (!only.empty() && std::string(l.name).find(only) == std::string::npos) continue;
    const kernels::ConvGeometry g{batch, l.c_in, l.side, l.side, l.c_out, 3, 3, l.stride, 1, 1};
    const int64_t p = g.out_height() * g.out_width(), m = l.c_out, n = batch * p, k = l.c_in * 9;
    const double flops = 2.0 * m * n * k;
    auto x = random_buffer(static_cast<size_t>(batch * l.c_in * l.side * l.side), rng);
    auto w = random_buffer(static_cast<size_t>(m * k), rng);
    auto y = random_buffer(static_cast<size_t>(batch * m * p), rng);
    std::vector<float> dx(x.size()), dw(w.size());
    auto a = random_buffer(static_cast<size_t>(m * k), rng),
         b = random_buffer(static_cast<size_t>(k * n), rng);
    auto c = random_buffer(static_cast<size_t>(m * n), rng);
    for (int threads : thread_counts) {
      set_num_threads(threads);
      const double fwd = best_seconds(
          reps, [&] { kernels::conv2d_forward_im2col(g, x.data(), w.data(), nullptr, y.data()); });
      const double din = best_seconds(reps, [&] {
        kernels::conv2d_backward_input_im2col(g, y.data(), w.data(), dx.data(), false);
      });
      const double dwt = best_seconds(reps, [&] {
        kernels::conv2d_backward_weight(g, x.data(), y.data(), dw.data(), nullptr);
      });
      // The same products as plain sgemm calls.
      const double g_fwd = best_seconds(reps, [&] {
        kernels::parallel_gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
                               c.data(), n);
      });
      const double g_din = best_seconds(reps, [&] {
        kernels::parallel_gemm(true, false, k, n, m, 1.0f, a.data(), k, c.data(), n, 0.0f, b.data(),
                               n);
      });
      const double g_dwt = best_seconds(reps, [&] {
        kernels::parallel_gemm(false, true, m, k, n, 1.0f, c.data(), n, b.data(), n, 0.0f, a.data(),
                               k);
      });
      auto gf = [&](double s) { return flops / s * 1e-9; };
      std::printf("%-18s %3d | %8.1f %8.1f %5.0f%% | %8.1f %8.1f %5.0f%% | %8.1f %8.1f %5.0f%%\n",
                  l.name, threads, gf(fwd), gf(g_fwd), 100 * g_fwd / fwd, gf(din), gf(g_din),
                  100 * g_din / din, gf(dwt), gf(g_dwt), 100 * g_dwt / dwt);
      std::fflush(stdout);
    }
  }
  return 0;
}
