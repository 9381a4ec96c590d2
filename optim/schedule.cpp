// Schedule arithmetic.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "optim/optimizer.h"

namespace lowbit {

float step_decay(int64_t step, int64_t step_size, float gamma) {
  return std::pow(gamma, static_cast<float>(std::max<int64_t>(step, 0) / step_size));
}

float cosine_annealing(int64_t step, int64_t total_steps, float min_factor) {
  const double t =
      std::clamp<double>(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0);
  return static_cast<float>(min_factor + (1.0 - min_factor) * 0.5 * (1.0 + std::cos(M_PI * t)));
}

float linear_decay(int64_t step, int64_t total_steps, float min_factor) {
  const double t =
      std::clamp<double>(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0);
  return static_cast<float>(min_factor + (1.0 - min_factor) * (1.0 - t));
}

RestartPosition restart_position(int64_t step, int64_t t0, int64_t t_mult) {
  RestartPosition r{0, std::max<int64_t>(step, 0), t0};
  while (r.offset >= r.length) {
    r.offset -= r.length;
    r.length *= t_mult;
    ++r.period;
  }
  return r;
}

float cosine_warm_restarts(int64_t step, int64_t t0, int64_t t_mult, float min_factor) {
  const RestartPosition r = restart_position(step, t0, t_mult);
  return cosine_annealing(r.offset, r.length, min_factor);
}

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "step") return ScheduleKind::kStep;
  if (name == "cosine") return ScheduleKind::kCosine;
  if (name == "cosine-restarts") return ScheduleKind::kCosineRestarts;
  if (name == "linear") return ScheduleKind::kLinear;
  throw Error(concat("unknown schedule '", name,
                     "'; known: constant, step, cosine, cosine-restarts, linear"));
}

void validate(const ScheduleConfig& c) {
  LOWBIT_CHECK(c.warmup_steps >= 0, "schedule: warmup_steps ", c.warmup_steps, " must be >= 0");
  LOWBIT_CHECK(c.min_factor >= 0 && c.min_factor <= 1, "schedule: min_factor ", c.min_factor,
               " must be in [0, 1]");
  switch (c.kind) {
    case ScheduleKind::kConstant:
      break;
    case ScheduleKind::kStep:
      LOWBIT_CHECK(c.step_size > 0, "schedule: step_size ", c.step_size, " must be > 0");
      LOWBIT_CHECK(c.gamma > 0 && c.gamma <= 1, "schedule: gamma ", c.gamma, " must be in (0, 1]");
      break;
    case ScheduleKind::kCosine:
    case ScheduleKind::kLinear:
      LOWBIT_CHECK(c.total_steps > 0, "schedule: total_steps ", c.total_steps, " must be > 0");
      break;
    case ScheduleKind::kCosineRestarts:
      LOWBIT_CHECK(c.t0 > 0, "schedule: t0 ", c.t0, " must be > 0");
      LOWBIT_CHECK(c.t_mult >= 1, "schedule: t_mult ", c.t_mult, " must be >= 1");
      break;
  }
}

float schedule_factor(const ScheduleConfig& c, int64_t step) {
  if (step < c.warmup_steps)
    return static_cast<float>(step + 1) / static_cast<float>(c.warmup_steps);
  const int64_t t = step - c.warmup_steps;
  switch (c.kind) {
    case ScheduleKind::kConstant:
      return 1.0f;
    case ScheduleKind::kStep:
      return step_decay(t, c.step_size, c.gamma);
    case ScheduleKind::kCosine:
      return cosine_annealing(t, c.total_steps, c.min_factor);
    case ScheduleKind::kCosineRestarts:
      return cosine_warm_restarts(t, c.t0, c.t_mult, c.min_factor);
    case ScheduleKind::kLinear:
      return linear_decay(t, c.total_steps, c.min_factor);
  }
  return 1.0f;
}

bool is_restart(const ScheduleConfig& c, int64_t step) {
  if (c.kind != ScheduleKind::kCosineRestarts || step < c.warmup_steps) return false;
  const RestartPosition r = restart_position(step - c.warmup_steps, c.t0, c.t_mult);
  return r.period > 0 && r.offset == 0;
}

LrScheduler::LrScheduler(std::vector<Optimizer*> optimizers, ScheduleConfig config)
    : optimizers_(std::move(optimizers)), config_(config) {
  validate(config_);
}

void LrScheduler::apply(int64_t step) {
  const float factor = schedule_factor(config_, step);
  const bool reset = config_.reset_state_on_restart && is_restart(config_, step);
  for (Optimizer* o : optimizers_) {
    o->set_lr(o->base_lr() * factor);
    if (reset) o->reset_state();
  }
}

}  // namespace lowbit
