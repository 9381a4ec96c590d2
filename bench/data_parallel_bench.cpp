// Data-parallel training steps of one zoo model on synthetic data, where the time goes: run it
// under mpirun (mpirun -np 2 data_parallel_bench --model resnet20 --batch 128 --threads 1) or
// alone. Every rank takes its share of the global batch, as lowbit-train does. Measured on rank 0,
// each kind in turn in every round (medians over the rounds, after warm-up rounds):
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

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t m = values.size() / 2;
  return values.size() % 2 ? values[m] : 0.5 * (values[m - 1] + values[m]);
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
  app.add_option("--steps", steps, "timed rounds (a step of each kind)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", warmup, "untimed rounds first")->check(CLI::Range(0, 100000));
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
        // The three kinds of step and the sums alone, taken in turn at every timed round so that
        // a change in the machine's load reaches all of them alike; medians over the rounds.
        GradientAllreduceOptions overlapped;
        overlapped.bucket_bytes = bucket_kb * 1024;
        GradientAllreduceOptions serial_options = overlapped;
        serial_options.overlap = false;
        GradientAllreduce with_overlap(model->parameters(), ranks, overlapped),
            without_overlap(model->parameters(), ranks, serial_options),
            no_communication(model->parameters(), alone, overlapped);
        auto one_step = [&](GradientAllreduce& sums) {
          const auto t0 = Clock::now();
          const Tensor loss = mul_scalar(cross_entropy((*model)(images), labels), share);
          sgd.zero_grad();
          sums.backward(loss);
          sgd.step();
          return std::chrono::duration<double>(Clock::now() - t0).count();
        };
        std::vector<float> gradients(static_cast<size_t>(gradient_floats), 1.0f);
        const int64_t bucket_floats = bucket_kb * 256;
        auto sums_alone = [&] {
          const auto t0 = Clock::now();
          for (int64_t at = 0; at < gradient_floats; at += bucket_floats)
            ranks.allreduce_sum(gradients.data() + at,
                                std::min(bucket_floats, gradient_floats - at),
                                "the benchmark's all-reduce");
          return std::chrono::duration<double>(Clock::now() - t0).count();
        };
        // Warm-up: the buffer pool fills (first-touch pages cost 11-16 us each) and every kind of
        // step runs once.
        for (int i = 0; i < warmup; ++i) {
          one_step(no_communication);
          one_step(with_overlap);
          one_step(without_overlap);
          sums_alone();
        }
        std::vector<double> step_times, serial_times, compute_times, allreduce_times, waits;
        for (int i = 0; i < steps; ++i) {
          const double waited = with_overlap.wait_seconds();
          step_times.push_back(one_step(with_overlap));
          waits.push_back(with_overlap.wait_seconds() - waited);
          serial_times.push_back(one_step(without_overlap));
          compute_times.push_back(one_step(no_communication));
          allreduce_times.push_back(sums_alone());
        }
        const double step = median(step_times), serial = median(serial_times),
                     compute = median(compute_times), allreduce = median(allreduce_times),
                     exposed = median(waits);
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
          std::printf(
              "data_parallel_bench: %s, global batch %d (%lld on rank 0), %d ranks x %d "
              "threads, %.2f MB of gradients in buckets of %lld KiB\n",
              model_name.c_str(), batch, static_cast<long long>(shard), ranks.size(), num_threads(),
              bytes * 1e-6, static_cast<long long>(bucket_kb));
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
