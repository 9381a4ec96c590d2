// Activations quantized to zero or powers of two (Long et al. 2020, eq. 2-7).
// Levels 0, ±q2, ±2·q2, ..., ±2^(n-2)·q2 for n bits (2n-1 levels: a sign bit and n-1
// magnitude codes plus zero), thresholds at the midpoints between neighbouring levels
// (eq. 4-5). The backward is the derivative of a proxy (the straight-through estimator), one
// of Pow2Backward: the paper's eq. 7, or the clipped straight-through estimator.
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

// The slope the backward uses, for a = |x| (symmetric in x; the unsigned variant passes 0 for x < 0):
//   kEq7:     eq. 7 of the paper: 0 in the dead zone a <= q2/2, 1 up to the last threshold t (the
//             midpoint between the two largest levels), 1/(a - (t - 1)) beyond it.
//   kClipped: the clipped straight-through estimator: 1 for a <= the top level 2^(n-2) q2, dead zone
//             included, and 0 beyond: the derivative of clamp(x, -top, top).
// Why the second exists (docs/ste.md): beyond t eq. 7 keeps a slope near 1 where the forward is
// flat, so the loss keeps pushing saturated inputs outward and BN's scale grows (measured: gamma
// 2-10 on LeNet-5) until most activations sit on the top level, a ternary sign function. The
// clipped proxy tells the network that saturated inputs no longer change the output, and its
// dead zone slope of 1 lets inputs that quantize to zero move back out.
enum class Pow2Backward { kEq7, kClipped };

struct Pow2ActivationSpec {
  int bits = 3;
  float q2 = 0.125f;
  bool is_signed = true;  // false: the unsigned variant for use after ReLU (x < 0 -> 0)
  Pow2Backward backward = Pow2Backward::kEq7;
};

// "eq7", "clipped"; anything else is a lowbit::Error listing these.
Pow2Backward parse_pow2_backward(const std::string& name);
const char* pow2_backward_name(Pow2Backward backward);

// The non-negative levels 0, q2, 2 q2, ..., 2^(bits-2) q2.
std::vector<float> pow2_activation_levels(const Pow2ActivationSpec& spec);
// The thresholds between consecutive levels (midpoints), ascending.
std::vector<float> pow2_activation_thresholds(const Pow2ActivationSpec& spec);
float pow2_activation_value(float x, const Pow2ActivationSpec& spec);  // NaN stays NaN
float pow2_activation_slope(float x, const Pow2ActivationSpec& spec);  // as spec.backward says

// The objective of eq. 6 for a standard normal input: the integral over x >= 0 of
// phi(x) (P(x) - x)^2. Reading chosen: eq. 6 integrates from 0 to infinity only (its
// first term starts at 0) and its levels run to 2^(n-2)·q2, with the sum's garbled bounds
// read as the midpoints (3/2)·2^(i-3)·q2. This reading reproduces all 30 entries of
// Table 1 to the four printed decimals; counting both signs (twice this) or levels up to
// 2^(n-1)·q2 does not (that shifts every row of the table by one).
double pow2_activation_expected_error(const Pow2ActivationSpec& spec);
// The q2 that minimizes pow2_activation_expected_error at `bits` bits: the levels that best fit a
// standard normal input (0.8430 at 3 bits). An input of standard deviation s is fitted best by
// q2 = s * this, which is how BN's initial scale is chosen for a given q2 (models/bn_init.h).
double pow2_activation_best_q2(int bits);

Tensor pow2_activation(const Tensor& x, const Pow2ActivationSpec& spec);

class Pow2Activation : public Module {
 public:
  explicit Pow2Activation(Pow2ActivationSpec spec);
  Tensor forward(const Tensor& x) override { return pow2_activation(x, spec_); }
  std::string type_name() const override { return "Pow2Activation"; }
  const Pow2ActivationSpec& spec() const { return spec_; }

 private:
  Pow2ActivationSpec spec_;
};

}  // namespace lowbit
