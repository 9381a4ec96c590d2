// Data-parallel training steps of one zoo model on synthetic data, where the time goes: run it
// under mpirun (mpirun -np 2 data_parallel_bench --model resnet20 --batch 128 --threads 1) or
// alone. Every rank takes its share of the global batch, as lowbit-train does. Measured on rank 0
// (medians after warm-up):
//   step      a whole step: forward, backward with the gradient sums started from it
//             (core/distributed/gradient_allreduce.h), the optimizer step
//   serial    the same with every sum started after the backward pass (no overlap)
//   compute   the same step with no communication at all (each rank alone on its shard)
//   allreduce the sums alone: the model's gradients in the same buckets, nothing else running
//   exposed   the wait for sums after the backward pass within `step` (what overlap did not hide)
// and the gradient bytes per step. bench/scaling_model.py turns the JSON (--json) into step times
// and efficiencies for more machines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "core/autograd.h"
#include "core/distributed/gradient_allreduce.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/elementwise.h"
#include "layers/losses.h"
#include "models/model_zoo.h"
#include "optim/sgd.h"

using namespace lowbit;
using Clock = std::chrono::steady_clock;

namespace {

// Median wall time of `steps` calls of f after `warmup` calls. Every rank runs the same calls, and
// the collectives inside keep them in step.
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"data_parallel_bench: where the time of a data-parallel training step goes"};
  std::string model_name;
  int batch = 0, threads = 1, steps = 10, warmup = 3;
  int64_t bucket_kb = kDefaultBucketBytes / 1024;
  bool json = false;
  app.add_option("--model", model_name, "model name")->required();
  app.add_option("--batch", batch, "images per step over every rank (the global batch)")
      ->required()
      ->check(CLI::Range(1, 65536));
  add_threads_flag(app, threads);
  app.add_option("--steps", steps, "timed steps of each kind")->check(CLI::Range(1, 100000));
  app.add_option("--warmup", warmup, "untimed steps before each timing")
      ->check(CLI::Range(0, 100000));
  app.add_option("--bucket-kb", bucket_kb, "gradient bucket size in KiB")
      ->check(CLI::Range(1, 1 << 20));
  app.add_flag("--json", json, "print one JSON line instead of text");
  return run_cli(
      app, argc, argv, "data_parallel_bench",
      [&]() -> int {
        set_num_threads(threads);
        Communicator& ranks = world();
        const int64_t first = batch * ranks.rank() / ranks.size(),
                      shard = batch * (ranks.rank() + 1) / ranks.size() - first;
        LOWBIT_CHECK(shard >= 2, "--batch ", batch, " on ", ranks.size(),
                     " ranks: expected at least 2 images per rank");
        const bool mnist = model_name == "lenet5";
        ModelOptions options;
        options.in_channels = mnist ? 1 : 3;
        options.image_size = mnist ? 28 : 32;
        options.num_classes = 10;
        Rng rng(1);
        auto model = make_model(model_name, options, rng);
        int64_t gradient_floats = 0;
        for (const Parameter& p : model->parameters()) gradient_floats += p.tensor.numel();

        // This rank's shard of a synthetic batch: x ~ N(0, 1), labels uniform.
        Rng data(2 + static_cast<uint64_t>(ranks.rank()));
        Tensor images =
            Tensor::empty({shard, options.in_channels, options.image_size, options.image_size});
        for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = data.normal();
        std::vector<int32_t> labels(static_cast<size_t>(shard));
        for (int32_t& y : labels) y = static_cast<int32_t>(data.below(10));
        const float share = static_cast<float>(shard) / static_cast<float>(batch);

        SgdOptions sgd_options;
        sgd_options.lr = 1e-3f;
        sgd_options.momentum = 0.9f;
        Sgd sgd(model->parameters(), sgd_options);
        model->train();
        Communicator alone;  // a world of one: the compute-only steps
        // Median step time; `waits` gets each timed step's wait for sums after its backward pass.
        auto step_with = [&](Communicator& comm, bool overlap, std::vector<double>& waits) {
          GradientAllreduceOptions o;
          o.bucket_bytes = bucket_kb * 1024;
          o.overlap = overlap;
          GradientAllreduce sums(model->parameters(), comm, o);
          waits.clear();
          return median_seconds(warmup, steps, [&] {
            const double before = sums.wait_seconds();
            const Tensor loss = mul_scalar(cross_entropy((*model)(images), labels), share);
            sgd.zero_grad();
            sums.backward(loss);
            sgd.step();
            waits.push_back(sums.wait_seconds() - before);
          });
        };
        std::vector<double> waits, unused;
        const double step = step_with(ranks, true, waits);
        std::sort(waits.begin() + warmup, waits.end());
        const double exposed = waits[static_cast<size_t>(warmup + steps / 2)];
        const double serial = step_with(ranks, false, unused);
        const double compute = step_with(alone, true, unused);
        // The sums alone, in the reducer's buckets.
        std::vector<float> gradients(static_cast<size_t>(gradient_floats), 1.0f);
        const int64_t bucket_floats = bucket_kb * 256;
        const double allreduce = median_seconds(warmup, steps, [&] {
          for (int64_t at = 0; at < gradient_floats; at += bucket_floats)
            ranks.allreduce_sum(gradients.data() + at, std::min(bucket_floats, gradient_floats - at),
                                "the benchmark's all-reduce");
        });
        const double bytes = 4.0 * static_cast<double>(gradient_floats);
        if (json) {
          const nlohmann::json out = {{"model", model_name},
                                      {"ranks", ranks.size()},
                                      {"threads", num_threads()},
                                      {"batch", batch},
                                      {"rank_batch", shard},
                                      {"gradient_bytes", bytes},
                                      {"bucket_bytes", bucket_kb * 1024},
                                      {"step_s", step},
                                      {"serial_step_s", serial},
                                      {"compute_s", compute},
                                      {"allreduce_s", allreduce},
                                      {"exposed_s", exposed},
                                      {"img_s", batch / step}};
          std::printf("%s\n", out.dump().c_str());
        } else {
          std::printf("data_parallel_bench: %s, global batch %d (%lld on rank 0), %d ranks x %d "
                      "threads, %.2f MB of gradients in buckets of %lld KiB\n",
                      model_name.c_str(), batch, static_cast<long long>(shard), ranks.size(),
                      num_threads(), bytes * 1e-6, static_cast<long long>(bucket_kb));
          std::printf("step (overlap)   %9.2f ms  %8.1f images/s\n", step * 1e3, batch / step);
          std::printf("step (serial)    %9.2f ms  %8.1f images/s\n", serial * 1e3, batch / serial);
          std::printf("compute only     %9.2f ms\n", compute * 1e3);
          std::printf("all-reduce only  %9.2f ms  (%.2f GB/s of gradients)\n", allreduce * 1e3,
                      bytes / allreduce * 1e-9);
          std::printf("exposed wait     %9.2f ms  (%.1f%% of the step)\n", exposed * 1e3,
                      100.0 * exposed / step);
        }
        return 0;
      },
      Ranks::kMany);
}
