// Power-of-two activation quantizer: forward levels, the backward slopes (eq. 7 or clipped), eq. 6
// error.
#include "layers/quant/pow2_activation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
namespace {

void check_spec(const Pow2ActivationSpec& s) {
  LOWBIT_CHECK(s.bits >= 2 && s.bits <= 16, "power-of-two activation: bits ", s.bits,
               " out of range; expected 2..16");
  LOWBIT_CHECK(s.q2 > 0 && std::isfinite(s.q2), "power-of-two activation: q2 ", s.q2,
               " must be positive");
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
  if (std::isnan(x)) return x;  // a NaN stays visible downstream instead of becoming a level
  if (x < 0) return spec.is_signed ? -quantize_magnitude(-x, spec) : 0.0f;
  return quantize_magnitude(x, spec);
}

Pow2Backward parse_pow2_backward(const std::string& name) {
  if (name == "eq7") return Pow2Backward::kEq7;
  if (name == "clipped") return Pow2Backward::kClipped;
  throw Error(
      concat("unknown power-of-two activation backward '", name, "'; expected eq7 or clipped"));
}

const char* pow2_backward_name(Pow2Backward backward) {
  return backward == Pow2Backward::kClipped ? "clipped" : "eq7";
}

Pow2Scale parse_pow2_scale(const std::string& name) {
  if (name == "fixed") return Pow2Scale::kFixed;
  if (name == "trained") return Pow2Scale::kTrained;
  if (name == "trained-pow2") return Pow2Scale::kTrainedPow2;
  throw Error(concat("unknown power-of-two activation scale '", name,
                     "'; expected fixed, trained or trained-pow2"));
}

const char* pow2_scale_name(Pow2Scale scale) {
  return scale == Pow2Scale::kTrained       ? "trained"
         : scale == Pow2Scale::kTrainedPow2 ? "trained-pow2"
                                            : "fixed";
}

float pow2_activation_slope(float x, const Pow2ActivationSpec& spec) {
  if (x < 0 && !spec.is_signed) return 0.0f;
  const float a = std::fabs(x);
  if (spec.backward == Pow2Backward::kClipped)
    return a <= std::ldexp(spec.q2, spec.bits - 2) ? 1.0f : 0.0f;
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
    const double high = i + 1 == levels.size()
                            ? std::numeric_limits<double>::infinity()
                            : 0.5 * (static_cast<double>(levels[i]) + levels[i + 1]);
    error += squared_error_on(low, high, levels[i]);
  }
  return error;
}

// The error is smooth in q2 between the points where a level crosses nothing special, so a
// fine scan over log2 q2 in [-10, 3] followed by golden-section refinement around the best
// scan point finds the global minimum to float precision.
double pow2_activation_best_q2(int bits) {
  auto error = [bits](double log_q2) {
    return pow2_activation_expected_error({bits, static_cast<float>(std::exp2(log_q2)), true});
  };
  const double lo = -10.0, hi = 3.0, step = 1.0 / 256;
  double best = lo, best_error = error(lo);
  for (double t = lo; t <= hi; t += step) {
    const double e = error(t);
    if (e < best_error) best = t, best_error = e;
  }
  double a = best - step, b = best + step;
  const double r = (std::sqrt(5.0) - 1) / 2;
  for (int i = 0; i < 100; ++i) {
    const double c = b - r * (b - a), d = a + r * (b - a);
    if (error(c) < error(d)) {
      b = d;
    } else {
      a = c;
    }
  }
  return std::exp2((a + b) / 2);
}

namespace {

// The quantizer's constants, computed once per tensor rather than per element (the scalar
// functions above recompute them, and their level search is a data-dependent loop).
struct Pow2Kernel {
  std::vector<float> thresholds;  // ascending; |x| above thresholds[i] reaches levels[i + 1]
  std::vector<float> levels;      // 0, q2, 2 q2, ...
  float dead_zone, last;          // eq. 7's bounds, as pow2_activation_slope computes them
  float top;                      // the clipped proxy's bound: the top level
  bool is_signed;
  Pow2Backward proxy;

  explicit Pow2Kernel(const Pow2ActivationSpec& spec)
      : thresholds(pow2_activation_thresholds(spec)),
        levels(pow2_activation_levels(spec)),
        dead_zone(0.5f * spec.q2),
        last(spec.bits == 2 ? dead_zone : 0.75f * std::ldexp(spec.q2, spec.bits - 2)),
        top(std::ldexp(spec.q2, spec.bits - 2)),
        is_signed(spec.is_signed),
        proxy(spec.backward) {}

  // y = pow2_activation_value(x) over n elements, bit for bit (a NaN passes through). Chunked so
  // that each pass over the thresholds is a branch-free loop the compiler vectorizes: the magnitude
  // steps up to levels[i + 1] wherever |x| > thresholds[i].
  void forward(const float* x, float* y, int64_t n) const {
    constexpr int64_t kChunk = 256;
    float magnitude[kChunk];
    for (int64_t start = 0; start < n; start += kChunk) {
      const int64_t m = std::min(kChunk, n - start);
      const float* xs = x + start;
      for (int64_t e = 0; e < m; ++e) magnitude[e] = 0.0f;
      for (size_t i = 0; i < thresholds.size(); ++i) {
        const float t = thresholds[i], level = levels[i + 1];
        for (int64_t e = 0; e < m; ++e) magnitude[e] = std::fabs(xs[e]) > t ? level : magnitude[e];
      }
      float* ys = y + start;
      if (is_signed) {
        for (int64_t e = 0; e < m; ++e) ys[e] = xs[e] < 0.0f ? -magnitude[e] : magnitude[e];
      } else {
        for (int64_t e = 0; e < m; ++e) ys[e] = xs[e] < 0.0f ? 0.0f : magnitude[e];
      }
      for (int64_t e = 0; e < m; ++e) ys[e] = xs[e] != xs[e] ? xs[e] : ys[e];  // NaN
    }
  }

  // dx += dy * pow2_activation_slope(x), branch-free. Every arithmetic operation runs for every
  // element and only selects depend on x: a division or product the compiler had to keep
  // conditional (it may not speculate one that could raise a floating-point flag) would not
  // vectorize.
  void backward(const float* x, const float* dy, float* dx, int64_t n) const {
    if (proxy == Pow2Backward::kClipped) {
      backward_clipped(x, dy, dx, n);
      return;
    }
    // Locals, not members: a store to dx might otherwise alias them, forcing a reload per element.
    const float top = last, zero_below = dead_zone, shift = last - 1.0f;
    const float negative_slope =
        is_signed ? 1.0f : 0.0f;  // the unsigned variant passes nothing for x < 0
    for (int64_t e = 0; e < n; ++e) {
      const float a = std::fabs(x[e]);
      const float decay = 1.0f / (a - shift);
      float slope = a <= top ? 1.0f : decay;
      slope = a <= zero_below ? 0.0f : slope;
      const float sign_gate = x[e] < 0.0f ? negative_slope : 1.0f;
      dx[e] += dy[e] * (slope * sign_gate);
    }
  }

  // dx += dy * (|x| <= top), gated to 0 for x < 0 in the unsigned variant.
  void backward_clipped(const float* x, const float* dy, float* dx, int64_t n) const {
    const float bound = top;
    const float negative_slope = is_signed ? 1.0f : 0.0f;
    for (int64_t e = 0; e < n; ++e) {
      const float slope = std::fabs(x[e]) <= bound ? 1.0f : 0.0f;
      const float sign_gate = x[e] < 0.0f ? negative_slope : 1.0f;
      dx[e] += dy[e] * (slope * sign_gate);
    }
  }
};

// Elements per parallel task of the ops below; also the blocks of the scale gradient's sum.
constexpr int64_t kGrain = 1 << 14;
// The scaled op's stack buffers hold u = x / a and P(u) for this many elements at a time.
constexpr int64_t kScaledChunk = 256;

// Calls body(start, m, u, p) for the chunks of xs[0, count): u[e] = xs[start + e] / a for the m
// elements of the chunk, p a buffer as long, so that no tensor of u is kept.
template <class Body>
void for_each_scaled_chunk(float a, const float* xs, int64_t count, Body&& body) {
  float u[kScaledChunk], p[kScaledChunk];
  for (int64_t start = 0; start < count; start += kScaledChunk) {
    const int64_t m = std::min(kScaledChunk, count - start);
    for (int64_t e = 0; e < m; ++e) u[e] = xs[start + e] / a;
    body(start, m, u, p);
  }
}

// y = a P(x / a) over n elements.
void scaled_pow2_forward(const Pow2Kernel& kernel, float a, const float* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for_each_scaled_chunk(a, x + begin, end - begin,
                          [&](int64_t start, int64_t m, const float* u, float* p) {
                            kernel.forward(u, p, m);
                            for (int64_t e = 0; e < m; ++e) y[begin + start + e] = a * p[e];
                          });
  });
}

// With u = x / a over n elements: dx += dy P'(u) (dx may be null), and returns
// sum dy (P(u) - u P'(u)), the derivative of a P(x / a) in a before LSQ's gradient scale. One
// partial sum per fixed block of kGrain elements, added in block order: the same sum on any
// thread count.
double scaled_pow2_backward(const Pow2Kernel& kernel, float a, const float* x, const float* dy,
                            float* dx, int64_t n) {
  std::vector<double> partial((n + kGrain - 1) / kGrain, 0.0);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    double sum = 0;
    for_each_scaled_chunk(a, x + begin, end - begin,
                          [&](int64_t start, int64_t m, const float* u, float* p) {
                            const float* g = dy + begin + start;
                            float slope[kScaledChunk], ones[kScaledChunk];
                            std::fill(slope, slope + m, 0.0f);
                            std::fill(ones, ones + m, 1.0f);
                            kernel.forward(u, p, m);
                            kernel.backward(u, ones, slope, m);
                            if (dx)
                              for (int64_t e = 0; e < m; ++e)
                                dx[begin + start + e] += g[e] * slope[e];
                            for (int64_t e = 0; e < m; ++e)
                              sum += static_cast<double>(g[e]) * (p[e] - u[e] * slope[e]);
                          });
    partial[begin / kGrain] = sum;
  });
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace

// The op is custom_gradient's pattern (core/custom_gradient.h) written out with the kernels
// above: the same forward value and slope as pow2_activation_value / pow2_activation_slope,
// vectorized instead of called element by element (docs/performance.md, 'Power-of-two activation').
Tensor pow2_activation(const Tensor& x, const Pow2ActivationSpec& spec) {
  check_spec(spec);
  auto kernel = std::make_shared<const Pow2Kernel>(spec);
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    kernel->forward(px + begin, py + begin, end - begin);
  });
  record(y, "pow2_activation", {x}, [x, kernel](const Tensor& out) {
    const float* xs = x.data();
    const float* dy = out.grad();
    float* dx = x.grad();
    parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      kernel->backward(xs + begin, dy + begin, dx + begin, end - begin);
    });
  });
  return y;
}

Tensor scaled_pow2_activation(const Tensor& x, const Tensor& scale, const Pow2ActivationSpec& spec,
                              float grad_scale) {
  check_spec(spec);
  LOWBIT_CHECK(scale.numel() == 1, "scaled power-of-two activation: the scale has ", scale.numel(),
               " elements; expected 1");
  const float trained = scale.data()[0];
  LOWBIT_CHECK(trained > 0 && std::isfinite(trained),
               "scaled power-of-two activation: the trained scale is ", trained,
               "; expected a positive finite number");
  const float a = pow2_level_scale(trained, spec);
  auto kernel = std::make_shared<const Pow2Kernel>(spec);
  Tensor y = Tensor::empty(x.shape());
  scaled_pow2_forward(*kernel, a, x.data(), y.data(), x.numel());
  record(y, "scaled_pow2_activation", {x, scale},
         [x, scale, kernel, a, grad_scale](const Tensor& out) {
           float* dx = x.requires_grad() ? x.grad() : nullptr;
           const double dscale =
               scaled_pow2_backward(*kernel, a, x.data(), out.grad(), dx, x.numel());
           if (scale.requires_grad()) scale.grad()[0] += static_cast<float>(grad_scale * dscale);
         });
  return y;
}

float pow2_level_scale(float trained, const Pow2ActivationSpec& spec) {
  return spec.scale == Pow2Scale::kTrainedPow2 ? std::exp2(std::round(std::log2(trained)))
                                               : trained;
}

float Pow2Activation::level_scale() const {
  return spec_.scale == Pow2Scale::kFixed ? 1.0f : pow2_level_scale(scale_.data()[0], spec_);
}

Pow2Activation::Pow2Activation(Pow2ActivationSpec spec) : spec_(spec) {
  check_spec(spec_);
  if (spec_.scale != Pow2Scale::kFixed)
    scale_ = register_parameter("scale", ParamRole::kQuantScale, Tensor::full({1}, 1.0f));
}

Tensor Pow2Activation::forward(const Tensor& x) {
  if (spec_.scale == Pow2Scale::kFixed) return pow2_activation(x, spec_);
  // LSQ's g = 1 / sqrt(N Qp): N the activations of one image, Qp the top level's code.
  const int64_t per_image =
      x.shape().rank() > 0 && x.shape()[0] > 0 ? x.numel() / x.shape()[0] : x.numel();
  const double top_code = std::ldexp(1.0, spec_.bits - 2);
  return scaled_pow2_activation(x, scale_, spec_,
                                static_cast<float>(1.0 / std::sqrt(per_image * top_code)));
}

}  // namespace lowbit
