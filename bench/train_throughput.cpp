// Training and inference throughput of one zoo model on synthetic data: images/s of full
// Adam training steps and of eval-mode forward passes (median step time after warm-up),
// plus the process's peak resident memory. One model per process, so the peak is its own.
// Usage: train_throughput --model NAME --batch N [--threads 2] [--steps S] [--warmup W] [--json]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/losses.h"
#include "models/model_zoo.h"
#include "models/summary.h"
#include "optim/adam.h"

using namespace lowbit;
using Clock = std::chrono::steady_clock;

namespace {

// Median wall time of `steps` calls of f after `warmup` untimed calls. The median, not the
// best, because a training step is long enough that the median is stable and it is what
// a training run sees; on a shared machine the best would flatter both frameworks.
double median_seconds(int warmup, int steps, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = Clock::now();
    f();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const size_t m = times.size() / 2;
  return times.size() % 2 ? times[m] : 0.5 * (times[m - 1] + times[m]);
}

// A field of /proc/self/status in MB ("VmHWM": peak resident set, "VmRSS": current), or
// -1 when the file is missing.
double proc_status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  }
  return -1.0;
}

// Peak resident set of the process in MB: VmHWM, or getrusage's ru_maxrss (kB on Linux).
double peak_rss_mb() {
  const double hwm = proc_status_mb("VmHWM");
  if (hwm >= 0) return hwm;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

std::string known_models() {
  std::string names;
  for (const std::string& n : model_names()) names += (names.empty() ? "" : ", ") + n;
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "train_throughput: training-step and inference images/s and peak memory of a zoo model"};
  std::string model_name;
  int batch = 0, threads = 2, steps = 10, warmup = 3;
  uint64_t seed = 0;
  bool json = false;
  app.add_option("--model", model_name, "model name (" + known_models() + ")")->required();
  app.add_option("--batch", batch, "images per step")->required()->check(CLI::Range(1, 65536));
  add_threads_flag(app, threads);
  app.add_option("--steps", steps, "timed steps (training and inference each)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", warmup, "untimed steps before timing")->check(CLI::Range(0, 100000));
  app.add_option("--seed", seed, "random seed of the weights and the synthetic data");
  app.add_flag("--json", json, "print one JSON line instead of text");
  return run_cli(app, argc, argv, "train_throughput", [&]() -> int {
    set_num_threads(threads);
    const double base_rss_mb = proc_status_mb("VmRSS");
    // LeNet-5 sees MNIST-sized images, the CIFAR models 3x32x32; 10 classes everywhere.
    const bool mnist = model_name == "lenet5";
    ModelOptions options;
    options.in_channels = mnist ? 1 : 3;
    options.image_size = mnist ? 28 : 32;
    options.num_classes = 10;
    Rng rng(seed);
    auto model = make_model(model_name, options, rng);
    const ModelSummary summary = summarize(*model, options.in_channels, options.image_size);

    // Synthetic batch: x ~ N(0, 1), labels uniform over the classes; the same batch every
    // step, so only the model is measured.
    Tensor images =
        Tensor::empty({batch, options.in_channels, options.image_size, options.image_size});
    float* px = images.data();
    for (int64_t i = 0; i < images.numel(); ++i) px[i] = rng.normal();
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    for (int32_t& y : labels)
      y = static_cast<int32_t>(rng.below(static_cast<uint64_t>(options.num_classes)));

    Adam adam(model->parameters(), AdamOptions{});
    model->train();
    const double train_s = median_seconds(warmup, steps, [&] {
      Tensor loss = cross_entropy((*model)(images), labels);
      adam.zero_grad();
      backward(loss);
      adam.step();
    });

    model->eval();
    const double infer_s = median_seconds(warmup, steps, [&] {
      NoGradGuard no_grad;
      Tensor logits = (*model)(images);
    });

    const double train_ips = batch / train_s, infer_ips = batch / infer_s, peak_mb = peak_rss_mb();
    // Forward = 2 * MACs FLOPs per image; a training step is about three forwards (the
    // input gradient and the weight gradient each cost one more).
    const double fwd_gflop = 2.0 * static_cast<double>(summary.macs) * 1e-9;
    if (json) {
      nlohmann::json out = {{"framework", "lowbit"},
                            {"model", model_name},
                            {"batch", batch},
                            {"threads", num_threads()},
                            {"steps", steps},
                            {"warmup", warmup},
                            {"params", summary.parameters},
                            {"macs_per_image", summary.macs},
                            {"train_step_ms", train_s * 1e3},
                            {"infer_step_ms", infer_s * 1e3},
                            {"train_img_s", train_ips},
                            {"infer_img_s", infer_ips},
                            {"train_gflops", 3.0 * fwd_gflop * train_ips},
                            {"infer_gflops", fwd_gflop * infer_ips},
                            {"peak_rss_mb", peak_mb},
                            {"base_rss_mb", base_rss_mb},
                            {"blas_core", blas_core_name()}};
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf(
          "train_throughput: %s, batch %d, %d threads, OpenBLAS core %s, median of %d after %d "
          "warm-up\n",
          model_name.c_str(), batch, num_threads(), blas_core_name(), steps, warmup);
      std::printf("parameters      %lld (%.2f GMAC per image forward)\n",
                  static_cast<long long>(summary.parameters),
                  static_cast<double>(summary.macs) * 1e-9);
      std::printf("training step   %9.1f ms  %9.1f images/s  %7.1f GFLOP/s\n", train_s * 1e3,
                  train_ips, 3.0 * fwd_gflop * train_ips);
      std::printf("inference       %9.1f ms  %9.1f images/s  %7.1f GFLOP/s\n", infer_s * 1e3,
                  infer_ips, fwd_gflop * infer_ips);
      std::printf("peak RSS        %9.1f MB (%.1f MB before the model was built)\n", peak_mb,
                  base_rss_mb);
    }
    return 0;
  });
}
