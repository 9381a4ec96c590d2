// Power-of-two activation quantizer: forward levels, eq. 7 slope, eq. 6 error.
#include "layers/pow2_activation.h"

#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/custom_gradient.h"

namespace lowbit {
namespace {

void check_spec(const Pow2ActivationSpec& s) {
  LOWBIT_CHECK(s.bits >= 2 && s.bits <= 16, "power-of-two activation: bits ", s.bits, " out of range; expected 2..16");
  LOWBIT_CHECK(s.q2 > 0 && std::isfinite(s.q2), "power-of-two activation: q2 ", s.q2, " must be positive");
}

// Magnitude quantization of a >= 0: the level whose interval (t_{i-1}, t_i] holds a.
float quantize_magnitude(float a, const Pow2ActivationSpec& s) {
  if (a <= 0.5f * s.q2) return 0.0f;
  float level = s.q2;
  const float top = std::ldexp(s.q2, s.bits - 2);
  // Interval of level L (L >= q2) ends at 1.5 L, the midpoint to 2 L.
  while (level < top && a > 1.5f * level) level *= 2.0f;
  return level;
}

double normal_pdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Integral over (a, b) of phi(x) (c - x)^2, in closed form from the normal's moments:
// c^2 [Phi] - 2c [-phi] + ([Phi] - [x phi]) with [f] = f(b) - f(a).
double squared_error_on(double a, double b, double c) {
  const double mass = normal_cdf(b) - normal_cdf(a);
  const double first = normal_pdf(a) - normal_pdf(b);
  const double b_pdf = std::isinf(b) ? 0.0 : b * normal_pdf(b);
  const double second = mass - (b_pdf - a * normal_pdf(a));
  return c * c * mass - 2.0 * c * first + second;
}

}  // namespace

std::vector<float> pow2_activation_levels(const Pow2ActivationSpec& spec) {
  check_spec(spec);
  std::vector<float> levels{0.0f};
  for (int k = 0; k <= spec.bits - 2; ++k) levels.push_back(std::ldexp(spec.q2, k));
  return levels;
}

std::vector<float> pow2_activation_thresholds(const Pow2ActivationSpec& spec) {
  const std::vector<float> levels = pow2_activation_levels(spec);
  std::vector<float> t;
  for (size_t i = 0; i + 1 < levels.size(); ++i) t.push_back(0.5f * (levels[i] + levels[i + 1]));
  return t;
}

float pow2_activation_value(float x, const Pow2ActivationSpec& spec) {
  if (x < 0) return spec.is_signed ? -quantize_magnitude(-x, spec) : 0.0f;
  return quantize_magnitude(x, spec);
}

float pow2_activation_slope(float x, const Pow2ActivationSpec& spec) {
  if (x < 0 && !spec.is_signed) return 0.0f;
  const float a = std::fabs(x);
  const float dead_zone = 0.5f * spec.q2;
  // The last threshold: the midpoint between the two largest levels.
  const float last = spec.bits == 2 ? dead_zone : 0.75f * std::ldexp(spec.q2, spec.bits - 2);
  if (a <= dead_zone) return 0.0f;
  if (a <= last) return 1.0f;
  return 1.0f / (a - (last - 1.0f));
}

double pow2_activation_expected_error(const Pow2ActivationSpec& spec) {
  const std::vector<float> levels = pow2_activation_levels(spec);
  double error = 0.0;
  for (size_t i = 0; i < levels.size(); ++i) {
    const double low = i == 0 ? 0.0 : 0.5 * (static_cast<double>(levels[i - 1]) + levels[i]);
    const double high = i + 1 == levels.size() ? std::numeric_limits<double>::infinity()
                                               : 0.5 * (static_cast<double>(levels[i]) + levels[i + 1]);
    error += squared_error_on(low, high, levels[i]);
  }
  return error;
}

Tensor pow2_activation(const Tensor& x, const Pow2ActivationSpec& spec) {
  check_spec(spec);
  return custom_gradient(
      x, "pow2_activation", [spec](float v) { return pow2_activation_value(v, spec); },
      [spec](float v) { return pow2_activation_slope(v, spec); });
}

Pow2Activation::Pow2Activation(Pow2ActivationSpec spec) : spec_(spec) { check_spec(spec_); }

}  // namespace lowbit
