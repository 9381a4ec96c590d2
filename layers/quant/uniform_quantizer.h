// Uniform quantizers with trained threshold scales (Goncharenko et al., "Fast Adjustable
// Threshold"): symmetric thresholds T = clip(alpha, min, max) * T_max (eq. 1-9, 12-15), asymmetric
// left limit and width (eq. 21-23), round and clip with the derivatives of eq. 16-19, per tensor
// ("scalar") or per channel ("vector", section 3.1.5); int32 bias codes (eq. 20).
//
// Readings chosen where the paper's formulas are garbled or incomplete:
// - Symmetric scale. Eq. 1 and 5 print S = (2^n - 1) / T next to the signed clip of eq. 4 and 8 at
//   ±(2^(n-1) - 1). Taken literally every |x| above about T/2 would saturate and T would not be the
//   threshold that eq. 2 and 6 calibrate as max|x|. We read the scale as "T maps to the largest
//   code": S = (2^(n-1) - 1) / T for signed values and S = (2^n - 1) / T for unsigned ones (eq. 9's
//   codes 0 .. 2^n - 1), so that max|x| is quantized without clipping.
// - Asymmetric grid. Eq. 21-23 give the adjusted left limit L = T_l + clip(alpha_T) R and width
//   W = clip(alpha_R) R (R = T_r - T_l) but not the grid. We use 2^n codes over [L, L + W]:
//   S = (2^n - 1) / W with the integer zero point z = round(L S), y = (clip(round(x S) - z, 0,
//   2^n - 1) + z) / S, as the authors' reference code does. Rounding z keeps the outputs on the
//   integer grid (integer inference needs z as its zero point); eq. 17's round' = 1 also applies to
//   it, which is what lets alpha_T learn (without it dy/dL would be 0 everywhere).
// - Clip's derivative (eq. 19) is taken on clip's argument round(x S) (eq. 4, 8: clip follows
//   round), with closed bounds [a, b]; the same closed bounds for clip(alpha, min, max), so alpha =
//   1 = max_alpha (its start) still gets a gradient.
// Consequences of eq. 16-19 that tests/uniform_quantizer_test.cpp checks: for an unclipped value
// dy/dT = (y - x) / T (the rounding error drives the threshold), for a clipped one dy/dT = y / T.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/quant/quantizer.h"

namespace lowbit {

enum class Thresholds { kSymmetric, kAsymmetric };
// kScalar: one threshold per tensor; kVector: one per index of the channel axis (section 3.1.5).
enum class Granularity { kScalar, kVector };

struct UniformQuantizerSpec {
  int bits = 8;           // 2..8
  bool is_signed = true;  // false for inputs that follow ReLU (eq. 9), codes 0 .. 2^n - 1
  Thresholds thresholds = Thresholds::kSymmetric;
  Granularity granularity = Granularity::kScalar;
  // kVector: the axis with one threshold per index: 0 for a weight (its output channels),
  // 1 for an activation (N, C, ...).
  int channel_axis = 0;
  // The clip range of alpha (eq. 12-13), or of alpha_R for the asymmetric width (eq. 23): the
  // paper's 0.5 and 1.
  float min_alpha = 0.5f, max_alpha = 1.0f;
  // The clip range of alpha_T, the asymmetric left-limit shift (eq. 22): the paper's [-0.2, 0.4]
  // for signed values and [0, 0.4] for unsigned ones (asymmetric_quantizer_spec sets it).
  float min_alpha_left = -0.2f, max_alpha_left = 0.4f;
};

// The paper's specs: symmetric (eq. 12-15) and asymmetric (eq. 21-23, with the alpha_T range of the
// signedness).
UniformQuantizerSpec symmetric_quantizer_spec(int bits, bool is_signed,
                                              Granularity granularity = Granularity::kScalar,
                                              int channel_axis = 0);
UniformQuantizerSpec asymmetric_quantizer_spec(int bits, bool is_signed,
                                               Granularity granularity = Granularity::kScalar,
                                               int channel_axis = 0);
// Throws lowbit::Error naming the bad field and the expected range.
void check_quantizer_spec(const UniformQuantizerSpec& spec);
// "uniform symmetric 8-bit signed, per tensor"
std::string describe_quantizer(const UniformQuantizerSpec& spec);

// The ops. alpha and the calibrated tensors have C elements: C = 1 (kScalar) or C =
// x.size(channel_axis) (kVector). One node whose backward writes dx and the alphas' gradients.
//   symmetric:  T_c = clip(alpha_c, min_alpha, max_alpha) * t_max_c;  y = clip(round(x S)) / S, S =
//   high / T_c dalpha_c = sum over channel c of dy * dy/dT * t_max_c while alpha_c is in
//   [min_alpha, max_alpha], else 0.
Tensor symmetric_quantize(const Tensor& x, const Tensor& alpha, const Tensor& t_max,
                          const UniformQuantizerSpec& spec);
//   asymmetric: R_c = t_right_c - t_left_c;  L_c = t_left_c + clip(alpha_left_c) R_c;  W_c =
//   clip(alpha_width_c) R_c.
Tensor asymmetric_quantize(const Tensor& x, const Tensor& alpha_left, const Tensor& alpha_width,
                           const Tensor& t_left, const Tensor& t_right,
                           const UniformQuantizerSpec& spec);

// Eq. 20: the int32 codes of a bias for integer inference, b_q = clip(round(S_in S_w b), ±(2^31 -
// 1)). weight_scales: one value, or one per bias element (vector mode).
std::vector<int32_t> quantize_bias_int32(const Tensor& bias, float input_scale,
                                         const std::vector<float>& weight_scales);

// The module: alphas as parameters (role kQuantScale), calibrated limits as buffers, so both are
// saved with the model. Parameters: symmetric "alpha" (starts at 1); asymmetric "alpha_left"
// (starts at 0) and "alpha_width" (starts at 1). Buffers: symmetric "t_max"; asymmetric "t_left",
// "t_right". Every limit starts at 0 (uncalibrated): forward throws until a limit is set
// (set_threshold, set_range, observe) or loaded from a checkpoint.
class UniformQuantizer : public Quantizer {
 public:
  // channels: the number of thresholds, 1 for kScalar, the size of the channel axis for kVector.
  explicit UniformQuantizer(const UniformQuantizerSpec& spec, int64_t channels = 1);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "UniformQuantizer"; }
  std::string describe() const override { return describe_quantizer(spec_); }

  // Calibration. Symmetric: T_max per threshold (eq. 2, 6), each >= 0. Asymmetric: the limits
  // [T_l, T_r] per threshold, T_l <= T_r (T_l = 0 for unsigned values).
  void set_threshold(const std::vector<float>& t_max);
  void set_range(const std::vector<float>& left, const std::vector<float>& right);
  // Widens the limits to cover x (shape as forward's input): symmetric T_max = max(T_max, max|x|);
  // asymmetric T_l = min(T_l, min x), T_r = max(T_r, max x), always containing 0 so that 0 is
  // exactly representable (zero padding). Calling it over calibration batches from the uncalibrated
  // start gives the max-threshold calibration of section 2 (eq. 2, 6).
  void observe(const Tensor& x);
  // Back to the uncalibrated state (limits 0) and alphas at their start values.
  void reset();
  bool calibrated() const;

  // Clamps every alpha into its clip range. A training loop calls it after each optimizer step:
  // an alpha pushed past a bound has clip' = 0 (eq. 19) and would otherwise never come back.
  void project_alphas();

  // The grid in use, per threshold: the step 1/S (T / high, or W / (2^n - 1)); the zero-point code
  // z (asymmetric; 0 for symmetric), so that code k has the value k * step; the adjusted limits,
  // symmetric [-T, T] (signed) or [0, T], asymmetric [L, L + W].
  std::vector<float> steps() const { return collect(&Grid::step); }
  std::vector<float> zero_points() const { return collect(&Grid::zero_point); }
  std::vector<float> lower_limits() const { return collect(&Grid::lower); }
  std::vector<float> upper_limits() const { return collect(&Grid::upper); }
  // The integer codes [low, high] of threshold `channel`'s grid: symmetric, -(2^(n-1) - 1) ..
  // 2^(n-1) - 1 (signed) or 0 .. 2^n - 1 (kernels::symmetric_codes); asymmetric, z .. z + 2^n - 1.
  // The one place the code range is computed: integer inference and the rounding-tie check read it
  // here.
  struct CodeLimits {
    int64_t low = 0, high = 0;
  };
  CodeLimits codes(int64_t channel) const;

  const UniformQuantizerSpec& spec() const { return spec_; }
  int64_t channels() const { return channels_; }
  // Trained scales: alpha (symmetric) or alpha_width (asymmetric); alpha_left (asymmetric only).
  const Tensor& alpha() const { return alpha_; }
  const Tensor& alpha_left() const { return alpha_left_; }

 private:
  struct Grid {
    float lower = 0, upper = 0, step = 0, zero_point = 0;
  };
  Grid grid(int64_t channel) const;
  std::vector<float> collect(float Grid::*field) const;

  UniformQuantizerSpec spec_;
  int64_t channels_;
  Tensor alpha_, alpha_left_;        // parameters
  Tensor t_max_, t_left_, t_right_;  // buffers (t_max symmetric; t_left, t_right asymmetric)
};

}  // namespace lowbit
