// DST transition rule and grid helpers.
#include "optim/discrete_state_transition.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/check.h"

namespace lowbit {
namespace {

void check_spec(const DstSpec& spec) {
  LOWBIT_CHECK(spec.min_exp <= 0 && spec.min_exp >= -6, "DST: min_exp ", spec.min_exp,
               " out of range; expected -6..0 (grid states must fit in 8 bits)");
  LOWBIT_CHECK(spec.th > 0 && std::isfinite(spec.th), "DST: th ", spec.th, " must be positive");
}

bool is_power_of_two(int a) { return a > 0 && (a & (a - 1)) == 0; }

// The largest power of two <= a (a >= 1).
int floor_power_of_two(int a) {
  int p = 1;
  while (p * 2 <= a) p *= 2;
  return p;
}

}  // namespace

int max_grid_state(const DstSpec& spec) {
  check_spec(spec);
  return 1 << (-spec.min_exp);
}

bool is_grid_state(int s, const DstSpec& spec) {
  const int a = std::abs(s);
  return a == 0 || (is_power_of_two(a) && a <= max_grid_state(spec));
}

float grid_value(GridState s, const DstSpec& spec) {
  return std::ldexp(static_cast<float>(s), spec.min_exp);
}

GridState project_to_grid(float w, const DstSpec& spec) {
  const int top = max_grid_state(spec);
  const float clipped = std::fmax(-1.0f, std::fmin(1.0f, w));
  const float scaled = std::ldexp(clipped, -spec.min_exp);  // w / L
  const int r = static_cast<int>(std::lround(scaled));
  const int a = std::abs(r);
  if (a == 0 || is_grid_state(a, spec)) return static_cast<GridState>(r);
  const int low = floor_power_of_two(a), high = std::min(2 * low, top);
  const float m = std::fabs(scaled);
  const int pick = (m - static_cast<float>(low) < static_cast<float>(high) - m) ? low : high;
  return static_cast<GridState>(r < 0 ? -pick : pick);
}

GridState dst_transition(GridState s, float dw, const DstSpec& spec, float u_gate, float u_choice) {
  const int top = max_grid_state(spec);
  if (dw == 0.0f || !std::isfinite(dw)) return s;
  const float steps = std::ldexp(std::fabs(dw), -spec.min_exp);  // |dw| / L
  const int sign = dw > 0 ? 1 : -1;
  const float whole = std::floor(steps);
  const float fraction = steps - whole;  // |v| / L
  const int gate = u_gate < std::tanh(spec.th * fraction) ? 1 : 0;
  // Clip before converting: a huge step must not overflow the integer.
  const float moved = std::fmin(whole + static_cast<float>(gate), static_cast<float>(2 * top));
  int next = static_cast<int>(s) + sign * static_cast<int>(moved);
  next = std::max(-top, std::min(top, next));
  return land_on_grid(next, u_choice);
}

GridState land_on_grid(int next, float u_choice) {
  const int a = std::abs(next);
  if (a == 0 || is_power_of_two(a)) return static_cast<GridState>(next);
  const int low = floor_power_of_two(a);
  const int pick = u_choice < 0.5f ? low : 2 * low;
  return static_cast<GridState>(next < 0 ? -pick : pick);
}

DstRule::DstRule(const DstSpec& spec)
    : th_(spec.th),
      step_(std::ldexp(1.0f, spec.min_exp)),
      inverse_step_(std::ldexp(1.0f, -spec.min_exp)),
      top_(max_grid_state(spec)) {}

GridState dst_transition(GridState s, float dw, const DstSpec& spec, Rng& rng) {
  const float u_gate = rng.uniform();
  const float u_choice = rng.uniform();
  return dst_transition(s, dw, spec, u_gate, u_choice);
}

}  // namespace lowbit
