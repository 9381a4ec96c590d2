// Uniform quantizers with trained threshold scales (FAT eq. 1-23): outputs on the integer grid
// times the step for every bit width and mode, the alpha gradients of eq. 12-13 and 21-23 against
// the derivative of the straight-through proxy, the UniformQuantizer module (parameters, buffers,
// calibration) and its errors.
#include "layers/quant/uniform_quantizer.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using lowbit::testing::random_tensor;

namespace {

// The straight-through proxies of eq. 16-19, in double: every round(v) replaced by v + (round(v0) -
// v0), the rounding residual frozen at the point where the backward ran. The backward claims to be
// the exact derivative of this proxy (round' = 1, clip' of eq. 19 on round's output); central
// differences of the proxy check the chain rule through S, T and alpha. x is (C, inner), one
// threshold per row (vector mode, axis 0) or one for all (C = 1).
struct Proxy {
  std::vector<float> x;
  int64_t channels = 1, inner = 0;
  UniformQuantizerSpec spec;
  std::vector<float> t_max, t_left, t_right;  // calibration, per channel
  std::vector<double> res_u, res_z;           // frozen residuals of round(x S) and round(L S)

  static double clip(double a, double lo, double hi) { return std::min(std::max(a, lo), hi); }
  double codes_high() const {
    return spec.is_signed ? std::ldexp(1.0, spec.bits - 1) - 1 : std::ldexp(1.0, spec.bits) - 1;
  }
  double n() const { return std::ldexp(1.0, spec.bits) - 1; }

  // Per channel: symmetric (S, unused) or asymmetric (S, v = L S).
  void grid(size_t c, double a, double al, double& s, double& v) const {
    if (spec.thresholds == Thresholds::kSymmetric) {
      s = codes_high() / (clip(a, spec.min_alpha, spec.max_alpha) * t_max[c]);
      v = 0.0;
    } else {
      const double r = static_cast<double>(t_right[c]) - t_left[c];
      const double w = clip(a, spec.min_alpha, spec.max_alpha) * r;
      s = n() / w;
      v = (t_left[c] + clip(al, spec.min_alpha_left, spec.max_alpha_left) * r) * s;
    }
  }
  // Freezes the residuals with the kernels' float arithmetic at (alpha, alpha_left).
  void freeze(const std::vector<float>& alpha, const std::vector<float>& alpha_left) {
    res_u.assign(x.size(), 0.0);
    res_z.assign(static_cast<size_t>(channels), 0.0);
    for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
      float s, v = 0.0f;
      if (spec.thresholds == Thresholds::kSymmetric) {
        s = static_cast<float>(codes_high()) /
            (std::min(std::max(alpha[c], spec.min_alpha), spec.max_alpha) * t_max[c]);
      } else {
        const float r = t_right[c] - t_left[c];
        const float w = std::min(std::max(alpha[c], spec.min_alpha), spec.max_alpha) * r;
        s = static_cast<float>(n()) / w;
        v = (t_left[c] +
             std::min(std::max(alpha_left[c], spec.min_alpha_left), spec.max_alpha_left) * r) *
            s;
        res_z[c] = std::rint(v) - static_cast<double>(v);
      }
      for (int64_t i = 0; i < inner; ++i) {
        const size_t j = c * static_cast<size_t>(inner) + static_cast<size_t>(i);
        const float u = x[j] * s;
        res_u[j] = std::rint(u) - static_cast<double>(u);
      }
    }
  }
  // sum_i w_i y_i of the proxy at (alpha, alpha_left), with x shifted by dx at element `at`.
  double loss(const std::vector<double>& w, const std::vector<double>& alpha,
              const std::vector<double>& alpha_left, int64_t at = -1, double dx = 0.0) const {
    double sum = 0.0;
    for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
      double s, v;
      grid(c, alpha[c], alpha_left.empty() ? 0.0 : alpha_left[c], s, v);
      const double z = v + res_z[c];
      for (int64_t i = 0; i < inner; ++i) {
        const size_t j = c * static_cast<size_t>(inner) + static_cast<size_t>(i);
        const double u = (x[j] + (static_cast<int64_t>(j) == at ? dx : 0.0)) * s + res_u[j];
        const double k = spec.thresholds == Thresholds::kSymmetric
                             ? clip(u, spec.is_signed ? -codes_high() : 0.0, codes_high())
                             : clip(u - z, 0.0, n()) + z;
        sum += w[j] * k / s;
      }
    }
    return sum;
  }
  // True when round(x S) - z lands exactly on a clip bound: a kink of the proxy (eq. 19 takes the
  // closed interval there, central differences would see half of it).
  bool on_clip_bound(size_t j, const std::vector<float>& alpha,
                     const std::vector<float>& alpha_left) const {
    const size_t c = j / static_cast<size_t>(inner);
    double s, v;
    grid(c, alpha[c], alpha_left.empty() ? 0.0 : alpha_left[c], s, v);
    const double r = std::rint(static_cast<double>(x[j]) * s) - std::rint(v);
    if (spec.thresholds == Thresholds::kSymmetric) {
      const double low = spec.is_signed ? -codes_high() : 0.0;
      return std::fabs(r - low) < 0.5 || std::fabs(r - codes_high()) < 0.5;
    }
    return std::fabs(r) < 0.5 || std::fabs(r - n()) < 0.5;
  }
};

// Runs the op at (alpha, alpha_left) with dL/dy = w and checks dalpha (and dalpha_left) and a few
// dx against central differences of the proxy.
void check_against_proxy(Proxy& p, const std::vector<float>& alpha0,
                         const std::vector<float>& alpha_left0, Rng& rng) {
  const bool symmetric = p.spec.thresholds == Thresholds::kSymmetric;
  Tensor x =
      Tensor::from_vector(p.channels == 1 ? Shape{p.inner} : Shape{p.channels, p.inner}, p.x);
  if (p.channels > 1) p.spec.channel_axis = 0;
  x.set_requires_grad(true);
  Tensor alpha = Tensor::from_vector({p.channels}, alpha0);
  alpha.set_requires_grad(true);
  Tensor alpha_left = symmetric ? Tensor() : Tensor::from_vector({p.channels}, alpha_left0);
  if (!symmetric) alpha_left.set_requires_grad(true);
  Tensor y =
      symmetric
          ? symmetric_quantize(x, alpha, Tensor::from_vector({p.channels}, p.t_max), p.spec)
          : asymmetric_quantize(x, alpha_left, alpha, Tensor::from_vector({p.channels}, p.t_left),
                                Tensor::from_vector({p.channels}, p.t_right), p.spec);
  std::vector<double> w(p.x.size());
  Tensor seed = Tensor::empty(y.shape());
  for (size_t i = 0; i < w.size(); ++i) w[i] = seed.data()[i] = rng.uniform(-1.0f, 1.0f);
  backward(y, seed);

  p.freeze(alpha0, alpha_left0);
  const std::vector<double> a(alpha0.begin(), alpha0.end());
  const std::vector<double> al(alpha_left0.begin(), alpha_left0.end());
  const double eps = 1e-4;
  for (size_t c = 0; c < static_cast<size_t>(p.channels); ++c) {
    std::vector<double> plus = a, minus = a;
    plus[c] += eps;
    minus[c] -= eps;
    const double numeric = (p.loss(w, plus, al) - p.loss(w, minus, al)) / (2 * eps);
    INFO("channel " << c << (symmetric ? " alpha" : " alpha_width"));
    CHECK(alpha.grad()[c] == Approx(numeric).epsilon(1e-3).margin(1e-4));
    if (symmetric) continue;
    std::vector<double> lp = al, lm = al;
    lp[c] += eps;
    lm[c] -= eps;
    const double numeric_left = (p.loss(w, a, lp) - p.loss(w, a, lm)) / (2 * eps);
    INFO("alpha_left");
    CHECK(alpha_left.grad()[c] == Approx(numeric_left).epsilon(1e-3).margin(1e-4));
  }
  for (int64_t j = 0; j < static_cast<int64_t>(p.x.size()); j += 7) {
    const double numeric = (p.loss(w, a, al, j, eps) - p.loss(w, a, al, j, -eps)) / (2 * eps);
    INFO("x[" << j << "] = " << p.x[static_cast<size_t>(j)]);
    CHECK(x.grad()[j] == Approx(numeric).epsilon(1e-3).margin(1e-4));
  }
}

// A proxy of `channels` rows of 40 values on a grid of `kind`: one threshold per tensor for one
// channel, one per channel for more.
Proxy proxy_of(Thresholds kind, int bits, bool is_signed, int64_t channels) {
  Proxy p;
  p.channels = channels;
  p.inner = 40;
  const Granularity g = channels == 1 ? Granularity::kScalar : Granularity::kVector;
  p.spec = kind == Thresholds::kSymmetric ? symmetric_quantizer_spec(bits, is_signed, g)
                                          : asymmetric_quantizer_spec(bits, is_signed, g);
  return p;
}

// The first `channels` of per-channel values.
std::vector<float> first(int64_t channels, std::vector<float> values) {
  values.resize(static_cast<size_t>(channels));
  return values;
}

// Values in [low, high) whose code is not on a clip bound (kinks of the proxy).
void fill_away_from_bounds(Proxy& p, Rng& rng, float low, float high,
                           const std::vector<float>& alpha, const std::vector<float>& alpha_left) {
  p.x.resize(static_cast<size_t>(p.channels * p.inner));
  for (size_t j = 0; j < p.x.size(); ++j) {
    do {
      p.x[j] = rng.uniform(low, high);
    } while (p.on_clip_bound(j, alpha, alpha_left));
  }
}

}  // namespace

TEST_CASE(
    "uniform_quantizer: every output is an integer code times the step, for 2..8 bits and every "
    "mode",
    "[uniform_quantizer]") {
  Rng rng(3);
  for (int bits = 2; bits <= 8; ++bits) {
    for (bool is_signed : {true, false}) {
      for (Thresholds kind : {Thresholds::kSymmetric, Thresholds::kAsymmetric}) {
        for (Granularity g : {Granularity::kScalar, Granularity::kVector}) {
          const UniformQuantizerSpec spec = kind == Thresholds::kSymmetric
                                                ? symmetric_quantizer_spec(bits, is_signed, g, 1)
                                                : asymmetric_quantizer_spec(bits, is_signed, g, 1);
          INFO(describe_quantizer(spec));
          const int64_t channels = g == Granularity::kScalar ? 1 : 3;
          UniformQuantizer q(spec, channels);
          Tensor x = random_tensor({4, 3, 5, 5}, rng, is_signed ? -3.0f : 0.0f, 3.0f);
          q.observe(x);
          // Trained scales away from their start, inside their ranges.
          for (int64_t c = 0; c < channels; ++c) {
            q.alpha().data()[c] = 0.6f + 0.1f * static_cast<float>(c);
            if (q.alpha_left().defined())
              q.alpha_left().data()[c] = is_signed ? -0.1f + 0.1f * c : 0.05f * c;
          }
          const Tensor y = q(x);
          const std::vector<float> step = q.steps(), zero = q.zero_points();
          const float n_codes = std::ldexp(1.0f, bits) - 1.0f;
          const float high = is_signed ? std::ldexp(1.0f, bits - 1) - 1.0f : n_codes;
          int64_t off_grid = 0, out_of_range = 0;
          for (int64_t i = 0; i < y.numel(); ++i) {
            const size_t c = channels == 1 ? 0 : static_cast<size_t>((i / 25) % 3);
            const float k = std::rint(y.data()[i] / step[c]);
            off_grid += y.data()[i] != k * step[c];
            if (kind == Thresholds::kSymmetric) {
              out_of_range += k < (is_signed ? -high : 0.0f) || k > high;
            } else {
              out_of_range += k < zero[c] || k > zero[c] + n_codes;
            }
          }
          CHECK(off_grid == 0);
          CHECK(out_of_range == 0);
          // codes(c), the code range integer inference uses, is the same range.
          for (int64_t c = 0; c < channels; ++c) {
            const UniformQuantizer::CodeLimits codes = q.codes(c);
            if (kind == Thresholds::kSymmetric) {
              CHECK(codes.low == static_cast<int64_t>(is_signed ? -high : 0.0f));
              CHECK(codes.high == static_cast<int64_t>(high));
            } else {
              CHECK(codes.low == static_cast<int64_t>(zero[static_cast<size_t>(c)]));
              CHECK(codes.high - codes.low == static_cast<int64_t>(n_codes));
            }
          }
          CHECK_THROWS_WITH(q.codes(channels), Catch::Contains("threshold"));
        }
      }
    }
  }
}

TEST_CASE(
    "uniform_quantizer: symmetric dalpha and dx are the derivative of the straight-through proxy",
    "[uniform_quantizer]") {
  Rng rng(11);
  for (int bits : {2, 4, 8}) {
    for (bool is_signed : {true, false}) {
      for (int64_t channels : {1, 3}) {
        Proxy p = proxy_of(Thresholds::kSymmetric, bits, is_signed, channels);
        p.t_max = first(channels, {2.0f, 0.5f, 1.25f});
        const std::vector<float> alpha = first(channels, {0.8f, 0.55f, 0.95f});
        // Inputs reach past the threshold, so both the rounded and the clipped branches contribute.
        fill_away_from_bounds(p, rng, is_signed ? -2.5f : -0.5f, 2.5f, alpha, {});
        INFO(describe_quantizer(p.spec));
        check_against_proxy(p, alpha, {}, rng);
      }
    }
  }
}

TEST_CASE(
    "uniform_quantizer: asymmetric dalpha_left, dalpha_width and dx are the derivative of the "
    "proxy",
    "[uniform_quantizer]") {
  Rng rng(12);
  for (int bits : {2, 4, 8}) {
    for (bool is_signed : {true, false}) {
      for (int64_t channels : {1, 3}) {
        Proxy p = proxy_of(Thresholds::kAsymmetric, bits, is_signed, channels);
        const float l0 = is_signed ? -1.0f : 0.0f;
        p.t_left = first(channels, {l0, l0 * 0.5f, l0 * 2.0f});
        p.t_right = first(channels, {2.0f, 0.7f, 1.5f});
        const std::vector<float> alpha = first(channels, {0.8f, 0.6f, 0.9f});
        const std::vector<float> alpha_left =
            first(channels, {0.1f, is_signed ? -0.1f : 0.2f, 0.3f});
        fill_away_from_bounds(p, rng, is_signed ? -2.5f : -0.5f, 2.5f, alpha, alpha_left);
        INFO(describe_quantizer(p.spec));
        check_against_proxy(p, alpha, alpha_left, rng);
      }
    }
  }
}

TEST_CASE(
    "uniform_quantizer: T = clip(alpha, 0.5, 1) T_max (eq. 12-13), alpha's gradient only inside "
    "the range",
    "[uniform_quantizer]") {
  const UniformQuantizerSpec spec = symmetric_quantizer_spec(3, true);  // codes -3..3
  const Tensor t_max = Tensor::from_vector({1}, {3.0f});
  const Tensor x = Tensor::from_vector({4}, {-10.0f, 0.4f, 1.1f, 10.0f});
  struct Case {
    float alpha, threshold;
    bool trained;
  };
  // alpha = 1 = max_alpha is inside eq. 19's closed range, so alpha learns from its start value.
  for (const Case& c : {Case{0.3f, 1.5f, false}, Case{0.5f, 1.5f, true}, Case{0.75f, 2.25f, true},
                        Case{1.0f, 3.0f, true}, Case{1.2f, 3.0f, false}}) {
    INFO("alpha " << c.alpha);
    Tensor alpha = Tensor::from_vector({1}, {c.alpha});
    alpha.set_requires_grad(true);
    Tensor y = symmetric_quantize(x, alpha, t_max, spec);
    CHECK(y.data()[0] == -c.threshold);  // saturated at -T
    CHECK(y.data()[3] == c.threshold);
    backward(y, Tensor::from_vector({4}, {1.0f, 0.0f, 0.0f, 1.0f}));
    // Two saturated values: dy/dT = -1 and +1 cancel; the seed on [3] alone gives T_max.
    CHECK(alpha.grad()[0] == 0.0f);
    alpha.zero_grad();
    y = symmetric_quantize(x, alpha, t_max, spec);
    backward(y, Tensor::from_vector({4}, {0.0f, 0.0f, 0.0f, 1.0f}));
    CHECK(alpha.grad()[0] == (c.trained ? 3.0f : 0.0f));
  }
}

TEST_CASE("uniform_quantizer: module parameters, buffers and roles", "[uniform_quantizer]") {
  UniformQuantizer sym(symmetric_quantizer_spec(8, true, Granularity::kVector, 0), 4);
  const std::vector<Parameter> ps = sym.parameters();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "alpha");
  CHECK(ps[0].role == ParamRole::kQuantScale);
  CHECK(std::string(role_name(ps[0].role)) == "quant_scale");
  CHECK(ps[0].tensor.to_vector() == std::vector<float>(4, 1.0f));
  REQUIRE(sym.buffers().size() == 1);
  CHECK(sym.buffers()[0].name == "t_max");

  UniformQuantizer asym(asymmetric_quantizer_spec(8, false), 1);
  const std::vector<Parameter> pa = asym.parameters();
  REQUIRE(pa.size() == 2);
  CHECK(pa[0].name == "alpha_left");
  CHECK(pa[0].tensor.item() == 0.0f);
  CHECK(pa[1].name == "alpha_width");
  CHECK(pa[1].tensor.item() == 1.0f);
  for (const Parameter& p : pa) CHECK(p.role == ParamRole::kQuantScale);
  REQUIRE(asym.buffers().size() == 2);
  CHECK(asym.buffers()[0].name == "t_left");
  CHECK(asym.buffers()[1].name == "t_right");
  CHECK(asym.spec().min_alpha_left == 0.0f);  // unsigned: the paper's [0, 0.4]
  CHECK(asymmetric_quantizer_spec(8, true).min_alpha_left == -0.2f);
  CHECK(sym.describe() == "uniform symmetric 8-bit signed, per channel (axis 0)");
  CHECK(asym.describe() == "uniform asymmetric 8-bit unsigned, per tensor");
}

TEST_CASE("uniform_quantizer: calibration by observe (eq. 2, 6) per tensor and per channel",
          "[uniform_quantizer]") {
  // A weight (C_out 2, C_in 1, 1, 2): per output channel max|W| = 0.5 and 3.
  const Tensor w = Tensor::from_vector({2, 1, 1, 2}, {0.5f, -0.25f, -3.0f, 1.0f});
  UniformQuantizer per_channel(symmetric_quantizer_spec(8, true, Granularity::kVector, 0), 2);
  CHECK_FALSE(per_channel.calibrated());
  per_channel.observe(w);
  CHECK(per_channel.calibrated());
  CHECK(per_channel.upper_limits() == std::vector<float>{0.5f, 3.0f});
  CHECK(per_channel.lower_limits() == std::vector<float>{-0.5f, -3.0f});
  CHECK(per_channel.steps() == std::vector<float>{0.5f / 127.0f, 3.0f / 127.0f});
  // The per-tensor maximum quantizes max|W| without clipping: -3 maps to the code -127 exactly.
  UniformQuantizer per_tensor(symmetric_quantizer_spec(8, true), 1);
  per_tensor.observe(w);
  CHECK(per_tensor.upper_limits() == std::vector<float>{3.0f});
  CHECK(per_tensor(w).data()[2] == -127.0f * per_tensor.steps()[0]);

  // Activations (N, C, H, W), channel axis 1, over two batches: the range grows and always holds 0.
  UniformQuantizer act(asymmetric_quantizer_spec(8, true, Granularity::kVector, 1), 2);
  act.observe(Tensor::from_vector({1, 2, 1, 2}, {0.5f, 1.0f, 2.0f, 3.0f}));
  act.observe(Tensor::from_vector({1, 2, 1, 2}, {-1.0f, 0.25f, 2.5f, 1.0f}));
  CHECK(act.lower_limits() == std::vector<float>{-1.0f, 0.0f});
  CHECK(act.upper_limits() == std::vector<float>{1.0f, 3.0f});
  CHECK(act.zero_points() == std::vector<float>{std::rint(-1.0f * (255.0f / 2.0f)), 0.0f});
  act.alpha().data()[0] = 0.5f;
  act.alpha_left().data()[0] = 0.25f;  // L = -1 + 0.25 * 2, W = 0.5 * 2
  CHECK(act.lower_limits()[0] == -0.5f);
  CHECK(act.upper_limits()[0] == 0.5f);

  per_channel.reset();
  CHECK_FALSE(per_channel.calibrated());
  per_channel.set_threshold({1.0f, 2.0f});
  CHECK(per_channel.upper_limits() == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("uniform_quantizer: project_alphas clamps trained scales back into their clip ranges",
          "[uniform_quantizer]") {
  UniformQuantizer q(asymmetric_quantizer_spec(4, true, Granularity::kVector, 0), 3);
  const std::vector<float> width{0.2f, 0.7f, 1.4f}, left{-0.5f, 0.1f, 0.9f};
  std::copy(width.begin(), width.end(), q.alpha().data());
  std::copy(left.begin(), left.end(), q.alpha_left().data());
  q.project_alphas();
  CHECK(q.alpha().to_vector() == std::vector<float>{0.5f, 0.7f, 1.0f});
  CHECK(q.alpha_left().to_vector() == std::vector<float>{-0.2f, 0.1f, 0.4f});
}

TEST_CASE("uniform_quantizer: the quantizer trains its alpha and passes dx to its input",
          "[uniform_quantizer]") {
  UniformQuantizer q(symmetric_quantizer_spec(4, true), 1);
  q.set_threshold({2.0f});
  Tensor x = Tensor::from_vector({3}, {0.3f, -5.0f, 1.1f});
  x.set_requires_grad(true);
  Tensor y = q(x);
  backward(y, Tensor::from_vector({3}, {1.0f, 1.0f, 1.0f}));
  // S = 7 / 2: u = 1.05 (k 1), -17.5 (clipped, k -7), 3.85 (k 4).
  // dT = ((1 - 1.05) + (-7) + (4 - 3.85)) / 7 = -6.9 / 7, dalpha = dT * T_max.
  CHECK(q.alpha().grad()[0] == Approx(-6.9 / 7 * 2).epsilon(1e-5));
  CHECK(x.grad_tensor().to_vector() == std::vector<float>{1.0f, 0.0f, 1.0f});
}

TEST_CASE("uniform_quantizer: int32 bias codes of a tensor (eq. 20)", "[uniform_quantizer]") {
  const Tensor b = Tensor::from_vector({2}, {0.1f, -0.2f});
  CHECK(quantize_bias_int32(b, 100.0f, {50.0f}) == std::vector<int32_t>{500, -1000});
  CHECK(quantize_bias_int32(b, 100.0f, {50.0f, 5.0f}) == std::vector<int32_t>{500, -100});
  CHECK_THROWS_AS(quantize_bias_int32(b, 100.0f, {1.0f, 2.0f, 3.0f}), Error);
  CHECK_THROWS_AS(quantize_bias_int32(b, 0.0f, {1.0f}), Error);
}

TEST_CASE("uniform_quantizer: errors name the bad value", "[uniform_quantizer]") {
  CHECK_THROWS_WITH(UniformQuantizer(symmetric_quantizer_spec(1, true)), Catch::Contains("bits 1"));
  CHECK_THROWS_WITH(UniformQuantizer(symmetric_quantizer_spec(9, true)),
                    Catch::Contains("expected 2..8"));
  UniformQuantizerSpec bad = asymmetric_quantizer_spec(8, false);
  bad.min_alpha_left = -0.2f;
  CHECK_THROWS_WITH(UniformQuantizer(bad), Catch::Contains("min_alpha_left -0.2"));
  CHECK_THROWS_WITH(UniformQuantizer(symmetric_quantizer_spec(8, true), 3),
                    Catch::Contains("channels 3"));

  UniformQuantizer q(symmetric_quantizer_spec(8, true, Granularity::kVector, 1), 3);
  CHECK_THROWS_WITH(q(Tensor::zeros({2, 3})), Catch::Contains("not calibrated"));
  q.set_threshold({1.0f, 1.0f, 1.0f});
  CHECK_THROWS_WITH(q(Tensor::zeros({2, 4})), Catch::Contains("expected 4, got 3"));
  CHECK_THROWS_WITH(q(Tensor::zeros({6})), Catch::Contains("channel axis 1"));
  CHECK_THROWS_WITH(q.set_threshold({1.0f, -1.0f, 1.0f}), Catch::Contains("T_max[1] = -1"));
  CHECK_THROWS_WITH(q.set_range({0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}),
                    Catch::Contains("expected set_threshold"));
  UniformQuantizer a(asymmetric_quantizer_spec(8, true), 1);
  CHECK_THROWS_WITH(a.set_range({1.0f}, {0.0f}), Catch::Contains("limits [1, 0]"));
}
