// Schedules at their end points and restarts; the scheduler resets optimizers only when asked.
#include "optim/schedule.h"

#include <catch2/catch.hpp>
#include <vector>

#include "core/check.h"
#include "optim/adam.h"

using namespace lowbit;

TEST_CASE("cosine annealing and step decay at their end points", "[schedule]") {
  CHECK(cosine_annealing(0, 100) == Approx(1.0f));
  CHECK(cosine_annealing(50, 100) == Approx(0.5f));
  CHECK(cosine_annealing(100, 100) == Approx(0.0f).margin(1e-7));
  CHECK(cosine_annealing(150, 100, 0.1f) == Approx(0.1f));  // clamped after the end
  CHECK(step_decay(0, 10, 0.1f) == 1.0f);
  CHECK(step_decay(9, 10, 0.1f) == 1.0f);
  CHECK(step_decay(10, 10, 0.1f) == Approx(0.1f));
  CHECK(step_decay(25, 10, 0.1f) == Approx(0.01f));
}

TEST_CASE("warm restarts with T0 = 10, Tmult = 2 restart at 10, 30, 70", "[schedule]") {
  ScheduleConfig c;
  c.kind = ScheduleKind::kCosineRestarts;
  c.t0 = 10;
  c.t_mult = 2;
  for (int64_t s : {10, 30, 70}) {
    CHECK(is_restart(c, s));
    CHECK(schedule_factor(c, s) == Approx(1.0f));
    CHECK(schedule_factor(c, s - 1) < 0.05f);
  }
  CHECK_FALSE(is_restart(c, 0));
  CHECK_FALSE(is_restart(c, 20));
  CHECK(schedule_factor(c, 20) == Approx(0.5f));  // halfway through the 20-step period
  CHECK(restart_position(75, 10, 2).period == 3);
}

TEST_CASE("linear warm-up precedes the schedule", "[schedule]") {
  ScheduleConfig c;
  c.kind = ScheduleKind::kCosine;
  c.total_steps = 10;
  c.warmup_steps = 4;
  CHECK(schedule_factor(c, 0) == Approx(0.25f));
  CHECK(schedule_factor(c, 3) == Approx(1.0f));
  CHECK(schedule_factor(c, 4) == Approx(1.0f));
  CHECK(schedule_factor(c, 9) == Approx(0.5f));
  CHECK(schedule_factor(c, 14) == Approx(0.0f).margin(1e-7));
}

TEST_CASE("the scheduler scales base rates and resets state at restarts when asked", "[schedule]") {
  Tensor t = Tensor::from_vector({1}, {1.0f});
  t.set_requires_grad(true);
  Adam adam({Parameter{"w", ParamRole::kWeight, t}}, AdamOptions{0.2f});
  ScheduleConfig c;
  c.kind = ScheduleKind::kCosineRestarts;
  c.t0 = 2;
  c.reset_state_on_restart = true;
  LrScheduler scheduler({&adam}, c);
  t.grad()[0] = 1.0f;
  scheduler.apply(0);
  CHECK(adam.lr() == Approx(0.2f));
  adam.step();
  scheduler.apply(1);
  CHECK(adam.lr() == Approx(0.1f));
  CHECK(adam.state()[2].tensor.item() == 1.0f);  // one step taken
  scheduler.apply(2);                            // restart: state reset
  CHECK(adam.state()[2].tensor.item() == 0.0f);
  CHECK(adam.lr() == Approx(0.2f));

  c.reset_state_on_restart = false;
  LrScheduler keep({&adam}, c);
  adam.step();
  keep.apply(2);
  CHECK(adam.state()[2].tensor.item() == 1.0f);
}

TEST_CASE("linear decay after a warm-up is the one-cycle triangle", "[schedule]") {
  CHECK(linear_decay(0, 100) == 1.0f);
  CHECK(linear_decay(25, 100) == 0.75f);
  CHECK(linear_decay(100, 100) == 0.0f);
  CHECK(linear_decay(150, 100, 0.1f) == Approx(0.1f));  // clamped after the end
  CHECK(linear_decay(50, 100, 0.2f) == Approx(0.6f));
  ScheduleConfig c;
  c.kind = ScheduleKind::kLinear;
  c.total_steps = 8;
  c.warmup_steps = 2;
  const std::vector<float> want{0.5f, 1.0f,   1.0f,  0.875f, 0.75f, 0.625f,
                                0.5f, 0.375f, 0.25f, 0.125f, 0.0f};
  for (size_t t = 0; t < want.size(); ++t) {
    INFO("step " << t);
    CHECK(schedule_factor(c, static_cast<int64_t>(t)) == want[t]);
  }
  c.total_steps = 0;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("total_steps"));
}

TEST_CASE("schedule names and invalid settings", "[schedule]") {
  CHECK(parse_schedule_kind("cosine-restarts") == ScheduleKind::kCosineRestarts);
  CHECK(parse_schedule_kind("linear") == ScheduleKind::kLinear);
  CHECK_THROWS_WITH(parse_schedule_kind("exponential"),
                    Catch::Contains("exponential") && Catch::Contains("linear"));
  ScheduleConfig c;
  c.kind = ScheduleKind::kCosineRestarts;
  c.t_mult = 0;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("t_mult 0"));
  c = ScheduleConfig{};
  c.kind = ScheduleKind::kCosine;
  c.total_steps = 0;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("total_steps"));
}
