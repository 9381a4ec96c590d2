// Learning-rate schedules as pure functions of the step, returning a multiplier of each
// optimizer's base learning rate (so one schedule drives several optimizers):
//   constant 1;  step decay gamma^floor(t / step_size);
//   cosine annealing m + (1 - m)(1 + cos(pi t / T)) / 2  (Loshchilov and Hutter 2017);
//   cosine with warm restarts (SGDR): periods T0, T0*Tmult, T0*Tmult^2, ..., the cosine
//   restarting at 1 at the start of each; the FAT paper resets the optimizer there too;
//   linear decay m + (1 - m)(1 - t / T), which after a warm-up is the triangular "one-cycle"
//   shape (Smith 2018) and under short budgets beats the cosine (Li et al. 2020, "Budgeted
//   training");
//   linear warm-up (t + 1) / W for t < W, then the schedule shifted by W.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class Optimizer;

float step_decay(int64_t step, int64_t step_size, float gamma);
float cosine_annealing(int64_t step, int64_t total_steps, float min_factor = 0.0f);
float linear_decay(int64_t step, int64_t total_steps, float min_factor = 0.0f);
// The period containing `step` and the step's offset in it.
struct RestartPosition {
  int64_t period = 0;  // 0 for the first
  int64_t offset = 0;  // steps since the period began
  int64_t length = 0;  // the period's length
};
RestartPosition restart_position(int64_t step, int64_t t0, int64_t t_mult);
float cosine_warm_restarts(int64_t step, int64_t t0, int64_t t_mult, float min_factor = 0.0f);

enum class ScheduleKind { kConstant, kStep, kCosine, kCosineRestarts, kLinear };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::kConstant;
  int64_t total_steps = 1;  // cosine and linear: the annealing length (after warm-up)
  int64_t step_size = 1;    // step decay period
  float gamma = 0.1f;       // step decay factor
  int64_t t0 = 1;           // cosine-restarts first period
  int64_t t_mult = 1;       // cosine-restarts period multiplier
  float min_factor = 0.0f;  // the cosine's floor, as a fraction of the base rate
  int64_t warmup_steps = 0;
  bool reset_state_on_restart = false;
};

// "constant", "step", "cosine", "cosine-restarts", "linear"; an unknown name lists the known ones.
ScheduleKind parse_schedule_kind(const std::string& name);
// Throws lowbit::Error naming the first invalid field.
void validate(const ScheduleConfig& config);
float schedule_factor(const ScheduleConfig& config, int64_t step);
// True at the first step of every period after the first (cosine-restarts only).
bool is_restart(const ScheduleConfig& config, int64_t step);

// Applies a schedule to optimizers: lr = base_lr * factor(step), and, when configured,
// reset_state() at every restart.
class LrScheduler {
 public:
  LrScheduler(std::vector<Optimizer*> optimizers, ScheduleConfig config);
  void apply(int64_t step);
  const ScheduleConfig& config() const { return config_; }

 private:
  std::vector<Optimizer*> optimizers_;
  ScheduleConfig config_;
};

}  // namespace lowbit
