// Discrete state transition (DST, Long et al. 2020, eq. 8-15): the pure rule that moves a
// weight between the states of the power-of-two grid {0, ±2^p, ..., ±2^-1, ±1}.
// A weight is stored as an integer state s with value w = s · L, L = 2^p (p = min_exp < 0),
// so the grid is s in {0, ±1, ±2, ±4, ..., ±2^-p}.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/rng.h"

namespace lowbit {

struct DstSpec {
  int min_exp = -3;  // p: the smallest non-zero magnitude is 2^p (the paper's [-3, q2] setting)
  float th = 0.5f;   // eq. 14's slope of the fine-tuning probability (section 4.2: 0.5)
};

using GridState = int8_t;

// The largest state, 2^-p (the value 1).
int max_grid_state(const DstSpec& spec);
// True when s is 0 or ± a power of two within range.
bool is_grid_state(int s, const DstSpec& spec);
float grid_value(GridState s, const DstSpec& spec);  // s · 2^p
// The nearest grid state of a float weight: clip to [-1, 1], round(w / L) (eq. 9), then
// a state between two powers of two takes the nearer one (ties to the larger magnitude).
// Used once, to project an initialization onto the grid.
GridState project_to_grid(float w, const DstSpec& spec);

// One transition for a proposed change dw (eq. 12-15):
//   k = sign(dw) floor(|dw| / L),  v = dw - k L                      (eq. 12)
//   gate ~ Bernoulli(tanh(th |v| / L))                                (eq. 14)
//   s' = s + sign(dw) gate + k, clipped to ±2^-p                      (eq. 13)
//   a landing state between two powers of two (±3, ±5..7, ...) goes to the lower or the
//   upper neighbour with probability 1/2 each (eq. 10: "equal probability to be 0 or 1").
// Reading chosen: eq. 10 is written for ±3 between ±2 and ±4; the same fair coin is used
// for every off-grid state, as the paper says "the same theory ... applies".
// `u_gate` and `u_choice` are uniform [0, 1) draws, passed in so the rule stays pure.
GridState dst_transition(GridState s, float dw, const DstSpec& spec, float u_gate, float u_choice);
// Convenience: draws the two uniforms from rng.
GridState dst_transition(GridState s, float dw, const DstSpec& spec, Rng& rng);

// dst_transition for the optimizer's inner loop, with the spec's constants computed once and
// the draws u_gate = counter_uniform(key, 2 index), u_choice = counter_uniform(key, 2 index + 1)
// taken only when the rule reads them. It returns exactly what dst_transition returns for those
// draws (tests/discrete_state_transition_test.cpp compares the two on millions of inputs).
class DstRule {
 public:
  explicit DstRule(const DstSpec& spec);
  GridState operator()(GridState s, float dw, uint64_t key, uint64_t index) const;
  float value(GridState s) const {
    return static_cast<float>(s) * step_;
  }  // == grid_value(s, spec)

 private:
  float th_, step_, inverse_step_;  // L = 2^p and 2^-p: scaling by them is exact, as ldexp
  int top_;
};

// Eq. 13's landing: a state `next` between two powers of two (±3, ±5..7, ...) goes to the lower
// magnitude when u_choice < 1/2, else to the upper one; a grid state stays.
GridState land_on_grid(int next, float u_choice);
inline bool is_between_powers_of_two(int next) {
  const int a = next < 0 ? -next : next;
  return (a & (a - 1)) != 0;
}

// Inline: the optimizer calls it once per weight and step.
inline GridState DstRule::operator()(GridState s, float dw, uint64_t key, uint64_t index) const {
  if (dw == 0.0f || !std::isfinite(dw)) return s;
  const float steps = std::fabs(dw) * inverse_step_;
  const int sign = dw > 0 ? 1 : -1;
  const float whole = std::floor(steps);
  const float z = th_ * (steps - whole);
  const float u_gate = counter_uniform(key, 2 * index);
  // The gate is u_gate < tanh(z). tanh(z) <= z, and glibc's tanhf(z) exceeds z by at most 2^-35
  // for z in [0, 100] (checked over every float there; a test samples it), so a draw above
  // z + 2^-32 closes the gate without evaluating tanh, which most draws are at Adam's rates.
  const bool gate_closed = static_cast<double>(u_gate) > static_cast<double>(z) + 0x1p-32;
  const int gate = !gate_closed && u_gate < std::tanh(z) ? 1 : 0;
  const float moved = std::fmin(whole + static_cast<float>(gate), static_cast<float>(2 * top_));
  int next = static_cast<int>(s) + sign * static_cast<int>(moved);
  next = next < -top_ ? -top_ : (next > top_ ? top_ : next);
  if (is_between_powers_of_two(next))
    return land_on_grid(next, counter_uniform(key, 2 * index + 1));
  return static_cast<GridState>(next);
}

}  // namespace lowbit
