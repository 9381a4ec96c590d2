// Where a training step's time goes: forward, loss, zero_grad, backward and the optimizer step
// (Adam, and DST for grid weights) of a model on synthetic data, with the forward and backward
// of every op summed by op name (and, with --detail, by op name and output shape). The model and
// its optimizers are built as lowbit-train builds them, so --weights pow2 --act pow2 profiles a
// power-of-two run.
// Usage: step_profile [--detail] [--steps N] [--threads T] [--weights W] [--act A] [model[:batch]
// ...]
//   default models: resnet18:128 vgg7:128 lenet5:256 (lenet5 on 1x28x28, the others 3x32x32)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/train/run_setup.h"
#include "bench/timing.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/losses.h"
#include "models/model_zoo.h"

using namespace lowbit;
using Clock = std::chrono::steady_clock;

namespace {

struct OpTimes {
  double forward = 0, backward = 0;
  int64_t calls = 0;
};

// Sums per-op times; the forward of an op is the time since the previous op finished.
class StepProfiler : public OpProfiler {
 public:
  explicit StepProfiler(bool detail) : detail_(detail) {}
  void start_forward() { last_ = Clock::now(); }
  void on_forward(const char* name, const Tensor& out) override {
    const auto now = Clock::now();
    OpTimes& t = times_[key(name, out.shape())];
    t.forward += std::chrono::duration<double>(now - last_).count();
    ++t.calls;
    last_ = now;
  }
  void on_backward(const char* name, const Shape& shape, double seconds) override {
    times_[key(name, shape)].backward += seconds;
  }
  const std::map<std::string, OpTimes>& times() const { return times_; }
  void clear() { times_.clear(); }

 private:
  std::string key(const char* name, const Shape& shape) const {
    return detail_ ? std::string(name) + " " + shape.str() : std::string(name);
  }
  bool detail_;
  Clock::time_point last_;
  std::map<std::string, OpTimes> times_;
};

void profile(TrainConfig config, int64_t batch, int steps, bool detail) {
  const std::string& name = config.model;
  config.dataset = name == "lenet5" ? "mnist" : "cifar10";
  config.seed = 1;
  config.resolve();
  const DatasetInfo& info = dataset_info(config.dataset);
  const ModelOptions o = model_options(config, info);
  Rng rng(1);
  auto model = build_model(config, info);
  model->train();
  const auto optimizers = build_optimizers(config, *model);
  Tensor x = Tensor::empty({batch, o.in_channels, o.image_size, o.image_size});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.uniform(-1.0f, 1.0f);
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (auto& l : labels) l = static_cast<int32_t>(rng.uniform(0.0f, 10.0f)) % 10;

  StepProfiler profiler(detail);
  struct Phases {
    double forward = 0, zero = 0, backward = 0, step = 0, total = 0;
  };
  auto run_step = [&](Phases& ph, bool timed_ops) {
    OpProfiler* previous = set_op_profiler(timed_ops ? &profiler : nullptr);
    const auto t0 = Clock::now();
    profiler.start_forward();
    Tensor loss = cross_entropy((*model)(x), labels);
    const auto t1 = Clock::now();
    for (const auto& optimizer : optimizers) optimizer->zero_grad();
    const auto t2 = Clock::now();
    backward(loss);
    const auto t3 = Clock::now();
    for (const auto& optimizer : optimizers) optimizer->step();
    const auto t4 = Clock::now();
    set_op_profiler(previous);
    auto d = [](Clock::time_point a, Clock::time_point b) {
      return std::chrono::duration<double>(b - a).count();
    };
    ph.forward += d(t0, t1), ph.zero += d(t1, t2), ph.backward += d(t2, t3), ph.step += d(t3, t4),
        ph.total += d(t0, t4);
  };
  Phases warm;
  for (int i = 0; i < 2; ++i) run_step(warm, false);
  // Plain steps (no per-op timing): the step rate, best of `steps`, in wall time and in
  // process CPU time (all threads; on a shared machine the latter measures work done).
  double best = 1e30, best_cpu = 1e30;
  for (int i = 0; i < steps; ++i) {
    Phases ph;
    const double c0 = bench::cpu_seconds();
    run_step(ph, false);
    best_cpu = std::min(best_cpu, bench::cpu_seconds() - c0);
    best = std::min(best, ph.total);
  }
  // Profiled steps: phases and per-op sums, averaged.
  Phases sum;
  profiler.clear();
  for (int i = 0; i < steps; ++i) run_step(sum, true);
  const double inv = 1.0 / steps, ms = 1e3 * inv;
  std::printf(
      "\n%s (weights %s, act %s) batch %lld, %d threads, OpenBLAS %s: best step %.1f ms = %.1f "
      "img/s "
      "(CPU %.1f ms)\n",
      name.c_str(), config.weights.c_str(), config.act.c_str(), static_cast<long long>(batch),
      num_threads(), blas_core_name(), best * 1e3, batch / best, best_cpu * 1e3);
  std::printf(
      "  profiled step %.1f ms: forward+loss %.1f, zero_grad %.2f, backward %.1f, optimizer %.2f\n",
      sum.total * ms, sum.forward * ms, sum.zero * ms, sum.backward * ms, sum.step * ms);
  std::vector<std::pair<std::string, OpTimes>> rows(profiler.times().begin(),
                                                    profiler.times().end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.forward + a.second.backward > b.second.forward + b.second.backward;
  });
  double fwd_sum = 0, bwd_sum = 0;
  std::printf("  %-40s %6s %9s %9s %6s\n", "op", "calls", "fwd ms", "bwd ms", "%step");
  for (const auto& [key, t] : rows) {
    fwd_sum += t.forward, bwd_sum += t.backward;
    std::printf("  %-40s %6lld %9.2f %9.2f %5.1f%%\n", key.c_str(),
                static_cast<long long>(t.calls * inv), t.forward * ms, t.backward * ms,
                100 * (t.forward + t.backward) / sum.total);
  }
  std::printf("  %-40s %6s %9.2f %9.2f   (backward bookkeeping %.2f ms)\n", "sum of ops", "",
              fwd_sum * ms, bwd_sum * ms, (sum.backward - bwd_sum) * ms);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "step_profile: where a training step's time goes, op by op (forward, backward, optimizer)"};
  bool detail = false;
  int steps = 5, threads = 0;
  std::vector<std::string> models;
  TrainConfig config;  // Adam at its defaults, as lowbit-train
  app.add_option("--weights", config.weights, "float, or pow2 (grid weights trained by DST)")
      ->check(CLI::IsMember({"float", "pow2"}));
  app.add_option("--act", config.act, "relu, pow2 or relu-pow2")
      ->check(CLI::IsMember({"relu", "pow2", "relu-pow2"}));
  app.add_option("models", models, "model[:batch] ... (default: resnet18:128 vgg7:128 lenet5:256)");
  app.add_flag("--detail", detail, "time ops by name and output shape instead of by name");
  app.add_option("--steps", steps, "profiled steps per model")->check(CLI::Range(1, 100000));
  add_threads_flag(app, threads);
  return run_cli(app, argc, argv, "step_profile", [&] {
    if (models.empty()) models = {"resnet18:128", "vgg7:128", "lenet5:256"};
    set_num_threads(threads);
    for (const std::string& m : models) {
      const size_t colon = m.find(':');
      const std::string name = m.substr(0, colon);
      model_entry(name);  // an unknown name throws, listing the known ones
      int64_t batch = name == "lenet5" ? 256 : 128;
      if (colon != std::string::npos) {
        char* end = nullptr;
        batch = std::strtoll(m.c_str() + colon + 1, &end, 10);
        if (*end != '\0' || batch < 1)
          throw std::runtime_error("batch in '" + m + "' should be a whole number >= 1");
      }
      config.model = name;
      profile(config, batch, steps, detail);
    }
    return 0;
  });
}
