// Memory-bound ops against a plain copy: effective GB/s of batch_norm (training forward and
// backward) and depthwise 3x3 convolution (forward, input gradient, weight gradient) on a
// (128, 64, 32, 32) tensor, with 1 and 2 threads. Bytes counted are those the minimal
// algorithm must move: copy reads x and writes y (2 tensors); BN forward reads x twice
// (statistics, then normalize) and writes y (3); BN backward reads x and dy twice and
// writes dx (5); depthwise forward reads x, writes y (2); input gradient reads dy and
// read-modify-writes dx (3); weight gradient reads x and dy (2).
// Usage: bandwidth [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "apps/common/cli_main.h"
#include "bench/timing.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/kernels/depthwise3x3.h"

using namespace lowbit;
using bench::best_seconds;
using Clock = std::chrono::steady_clock;

int run(bool quick);

int main(int argc, char** argv) {
  CLI::App app{"bandwidth: batch norm and depthwise 3x3 GB/s beside a memory copy"};
  bool quick = false;
  app.add_flag("--quick", quick, "batch 16, two repetitions (a smoke test)");
  return run_cli(app, argc, argv, "bandwidth", [&] { return run(quick); });
}

int run(bool quick) {
  const int64_t n = quick ? 16 : 128, c = 64, h = 32, w = 32, numel = n * c * h * w;
  const int reps = quick ? 2 : 10;
  const double bytes = 4.0 * static_cast<double>(numel);
  std::printf(
      "bandwidth: (%lld, 64, 32, 32) float tensors, %.0f MB each, OpenBLAS core %s, best of %d\n",
      static_cast<long long>(n), bytes / 1e6, blas_core_name(), reps);
  Rng rng(0);
  Tensor x = Tensor::empty({n, c, h, w}), dy = Tensor::empty({n, c, h, w});
  for (int64_t i = 0; i < numel; ++i) x.data()[i] = rng.normal(), dy.data()[i] = rng.normal();
  Tensor y = Tensor::empty({n, c, h, w}), dx = Tensor::zeros({n, c, h, w});
  std::vector<float> kernel(static_cast<size_t>(c * 9), 0.1f), dkernel(kernel.size());
  Tensor gamma = Tensor::full({c}, 1.0f), beta = Tensor::zeros({c});
  gamma.set_requires_grad(true);
  beta.set_requires_grad(true);
  Tensor rm = Tensor::zeros({c}), rv = Tensor::full({c}, 1.0f);
  Tensor xg = x.clone();
  xg.set_requires_grad(true);

  const kernels::ConvGeometry depthwise{n, c, h, w, c, 3, 3, 1, 1, c};
  std::printf("%-28s %8s %8s\n", "op", "1 thr", "2 thr");
  struct Op {
    const char* name;
    double tensors;
    std::function<void()> run;
  };
  const std::vector<Op> ops = {
      {"copy", 2, [&] { std::memcpy(y.data(), x.data(), static_cast<size_t>(bytes)); }},
      {"batch_norm forward (train)", 3,
       [&] {
         NoGradGuard ng;
         batch_norm(x, gamma, beta, rm, rv, true);
       }},
      {"batch_norm backward (train)", 5, nullptr},  // timed by backward_seconds below
      {"depthwise3x3 forward", 2,
       [&] {
         kernels::depthwise3x3_forward(depthwise, x.data(), kernel.data(), nullptr, y.data());
       }},
      {"depthwise3x3 input grad", 3,
       [&] {
         kernels::depthwise3x3_backward_input(depthwise, dy.data(), kernel.data(), dx.data());
       }},
      {"depthwise3x3 weight grad", 2,
       [&] {
         kernels::depthwise3x3_backward_weight(depthwise, x.data(), dy.data(), dkernel.data(),
                                               nullptr);
       }},
  };
  // The backward alone: the graph is built outside the timed region; the time includes
  // backward()'s seeding of the output gradient (one extra pass over dy).
  auto backward_seconds = [&] {
    double best = 1e30;
    for (int r = 0; r <= reps; ++r) {
      Tensor out = batch_norm(xg, gamma, beta, rm, rv, true);
      const auto t0 = Clock::now();
      backward(out, dy);
      if (r > 0) best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
  };
  for (const Op& op : ops) {
    std::printf("%-28s", op.name);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      const double s = op.run ? best_seconds(reps, op.run) : backward_seconds();
      std::printf(" %8.1f", op.tensors * bytes / s * 1e-9);
    }
    std::printf("  GB/s\n");
    std::fflush(stdout);
  }
  return 0;
}
