// Activations quantized to zero or powers of two (Long et al. 2020, eq. 2-7).
// Levels 0, ±q2, ±2·q2, ..., ±2^(n-2)·q2 for n bits (2n-1 levels: a sign bit and n-1
// magnitude codes plus zero), thresholds at the midpoints between neighbouring levels
// (eq. 4-5). The backward is eq. 7: 0 in the dead zone |x| <= q2/2, 1 up to the last
// threshold t, and 1/(|x| - (t - 1)) beyond it, symmetric for x < 0.
#pragma once

#include <vector>

#include "layers/module.h"

namespace lowbit {

struct Pow2ActivationSpec {
  int bits = 3;
  float q2 = 0.125f;
  bool is_signed = true;  // false: the unsigned variant for use after ReLU (x < 0 -> 0)
};

// The non-negative levels 0, q2, 2 q2, ..., 2^(bits-2) q2.
std::vector<float> pow2_activation_levels(const Pow2ActivationSpec& spec);
// The thresholds between consecutive levels (midpoints), ascending.
std::vector<float> pow2_activation_thresholds(const Pow2ActivationSpec& spec);
float pow2_activation_value(float x, const Pow2ActivationSpec& spec);  // NaN stays NaN
float pow2_activation_slope(float x, const Pow2ActivationSpec& spec);

// The objective of eq. 6 for a standard normal input: the integral over x >= 0 of
// phi(x) (P(x) - x)^2. Reading chosen: eq. 6 integrates from 0 to infinity only (its
// first term starts at 0) and its levels run to 2^(n-2)·q2, with the sum's garbled bounds
// read as the midpoints (3/2)·2^(i-3)·q2. This reading reproduces all 30 entries of
// Table 1 to the four printed decimals; counting both signs (twice this) or levels up to
// 2^(n-1)·q2 does not (that shifts every row of the table by one).
double pow2_activation_expected_error(const Pow2ActivationSpec& spec);

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
