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

// The slope the backward uses, for a = |x| (symmetric in x; the unsigned variant passes 0 for x <
// 0):
//   kEq7:     eq. 7 of the paper: 0 in the dead zone a <= q2/2, 1 up to the last threshold t (the
//             midpoint between the two largest levels), 1/(a - (t - 1)) beyond it.
//   kClipped: the clipped straight-through estimator: 1 for a <= the top level 2^(n-2) q2, dead
//   zone
//             included, and 0 beyond: the derivative of clamp(x, -top, top).
// Why the second exists (docs/ste.md): beyond t eq. 7 keeps a slope near 1 where the forward is
// flat, so the loss keeps pushing saturated inputs outward and BN's scale grows (measured: gamma
// 2-10 on LeNet-5) until most activations sit on the top level, a ternary sign function. The
// clipped proxy tells the network that saturated inputs no longer change the output, and its
// dead zone slope of 1 lets inputs that quantize to zero move back out.
enum class Pow2Backward { kEq7, kClipped };

// Whether the levels are scaled by a trained factor a: y = a P(x / a).
//   kFixed:       a = 1, the paper's levels; BN's scale alone fits the input to them.
//   kTrained:     a is a trained scalar per activation layer (LSQ's step size, Esser et al. 2020).
//   kTrainedPow2: the same, with a rounded to the nearest power of two in the forward (the levels
//                 stay powers of two, so the activation stays a shift), straight through in the
//                 backward.
enum class Pow2Scale { kFixed, kTrained, kTrainedPow2 };

struct Pow2ActivationSpec {
  int bits = 3;
  float q2 = 0.125f;
  bool is_signed = true;  // false: the unsigned variant for use after ReLU (x < 0 -> 0)
  Pow2Backward backward = Pow2Backward::kEq7;
  Pow2Scale scale = Pow2Scale::kFixed;
};

// "eq7", "clipped"; anything else is a lowbit::Error listing these.
Pow2Backward parse_pow2_backward(const std::string& name);
const char* pow2_backward_name(Pow2Backward backward);
// "fixed", "trained", "trained-pow2"; anything else is a lowbit::Error listing these.
Pow2Scale parse_pow2_scale(const std::string& name);
const char* pow2_scale_name(Pow2Scale scale);

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

// y = a P(x / a) with the trained factor in the one-element tensor `scale`: a = scale, or the power
// of two nearest to it (spec.scale == kTrainedPow2: log2 rounded half away from zero). With u = x /
// a:
//   dx     = dy P'(u)                                  (P' the backward proxy's slope)
//   dscale = grad_scale * sum over elements of dy (P(u) - u P'(u))
// the exact derivative of a P(x / a) in a through the proxy (LSQ's step-size gradient), with the
// rounding to a power of two passed straight through. grad_scale is LSQ's g = 1 / sqrt(N Qp), N the
// elements per image and Qp the top level's code (2^(bits-2)): it keeps the one scalar's gradient,
// a sum over every activation of the layer, on the scale of a weight's (1 for the exact gradient).
// The scale must be positive and finite (a lowbit::Error otherwise).
Tensor scaled_pow2_activation(const Tensor& x, const Tensor& scale, const Pow2ActivationSpec& spec,
                              float grad_scale);
// The factor a that a trained scale gives: itself, or its power of two for kTrainedPow2.
float pow2_level_scale(float trained, const Pow2ActivationSpec& spec);

// The power-of-two activation as a layer. With a trained scale it owns the parameter "scale" (one
// element, starting at 1: the fixed levels) and applies LSQ's gradient scale for its input's size.
class Pow2Activation : public Module {
 public:
  explicit Pow2Activation(Pow2ActivationSpec spec);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Pow2Activation"; }
  const Pow2ActivationSpec& spec() const { return spec_; }
  // The factor a of y = a P(x / a) in use: 1 for the fixed levels, else the trained scale (rounded
  // to a power of two for kTrainedPow2).
  float level_scale() const;

 private:
  Pow2ActivationSpec spec_;
  Tensor scale_;  // defined only with a trained scale
};

}  // namespace lowbit
