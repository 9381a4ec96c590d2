// Uniform quantizers with trained threshold scales (FAT eq. 1-9, 12-23): argument checks, the
// two ops with their backward nodes (dx and dalpha from one node), bias codes, the module.
#include "layers/quant/uniform_quantizer.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/kernels/uniform_quantize.h"

namespace lowbit {
namespace {

// x viewed as (outer, channels, inner) with one threshold per channel.
struct ChannelLayout {
  int64_t outer, channels, inner;
};

ChannelLayout channel_layout(const Tensor& x, const UniformQuantizerSpec& s, int64_t count,
                             const char* op) {
  if (s.granularity == Granularity::kScalar) {
    LOWBIT_CHECK(count == 1, op, ": scalar (per tensor) mode takes one threshold, got ", count);
    return {1, 1, x.numel()};
  }
  LOWBIT_CHECK(s.channel_axis < x.rank(), op, ": channel axis ", s.channel_axis,
               " does not exist in input shape ", x.shape().str());
  const int64_t c = x.size(s.channel_axis);
  LOWBIT_CHECK(count == c, op, ": vector mode takes one threshold per index of axis ",
               s.channel_axis, " of input ", x.shape().str(), ": expected ", c, ", got ", count);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < s.channel_axis; ++d) outer *= x.size(d);
  for (int d = s.channel_axis + 1; d < x.rank(); ++d) inner *= x.size(d);
  return {outer, c, inner};
}

void check_same_count(const char* op, const char* what, const Tensor& t, int64_t count) {
  LOWBIT_CHECK(t.defined() && t.rank() == 1 && t.numel() == count, op, ": ", what, " shape ",
               t.defined() ? t.shape().str() : std::string("(undefined)"), " should be (", count,
               ",)");
}

// clip(alpha, low, high) and eq. 19's derivative of that clip (1 on the closed range, else 0).
float clip_alpha(float a, float low, float high) { return std::min(std::max(a, low), high); }
bool alpha_in_range(float a, float low, float high) { return a >= low && a <= high; }

}  // namespace

UniformQuantizerSpec symmetric_quantizer_spec(int bits, bool is_signed, Granularity granularity,
                                              int channel_axis) {
  UniformQuantizerSpec s;
  s.bits = bits;
  s.is_signed = is_signed;
  s.thresholds = Thresholds::kSymmetric;
  s.granularity = granularity;
  s.channel_axis = channel_axis;
  return s;
}

UniformQuantizerSpec asymmetric_quantizer_spec(int bits, bool is_signed, Granularity granularity,
                                               int channel_axis) {
  UniformQuantizerSpec s = symmetric_quantizer_spec(bits, is_signed, granularity, channel_axis);
  s.thresholds = Thresholds::kAsymmetric;
  s.min_alpha_left = is_signed ? -0.2f : 0.0f;  // section 3.1.4
  s.max_alpha_left = 0.4f;
  return s;
}

void check_quantizer_spec(const UniformQuantizerSpec& s) {
  LOWBIT_CHECK(s.bits >= 2 && s.bits <= 8, "uniform quantizer: bits ", s.bits,
               " out of range; expected 2..8");
  LOWBIT_CHECK(s.channel_axis >= 0, "uniform quantizer: channel axis ", s.channel_axis,
               " must be >= 0");
  LOWBIT_CHECK(s.min_alpha > 0 && s.min_alpha <= s.max_alpha && std::isfinite(s.max_alpha),
               "uniform quantizer: alpha range [", s.min_alpha, ", ", s.max_alpha,
               "] is invalid; expected 0 < min_alpha <= max_alpha (the paper's [0.5, 1])");
  if (s.thresholds == Thresholds::kAsymmetric) {
    LOWBIT_CHECK(
        s.min_alpha_left <= s.max_alpha_left && std::isfinite(s.min_alpha_left) &&
            std::isfinite(s.max_alpha_left),
        "uniform quantizer: left-shift range [", s.min_alpha_left, ", ", s.max_alpha_left,
        "] is invalid; expected min <= max (the paper's [-0.2, 0.4] signed, [0, 0.4] unsigned)");
    LOWBIT_CHECK(s.is_signed || s.min_alpha_left >= 0,
                 "uniform quantizer: unsigned values cannot shift the left limit below 0, got "
                 "min_alpha_left ",
                 s.min_alpha_left,
                 "; expected >= 0 (the paper's [0, 0.4]; asymmetric_quantizer_spec sets it)");
  }
}

std::string describe_quantizer(const UniformQuantizerSpec& s) {
  return concat("uniform ", s.thresholds == Thresholds::kSymmetric ? "symmetric " : "asymmetric ",
                s.bits, "-bit ", s.is_signed ? "signed" : "unsigned", ", ",
                s.granularity == Granularity::kScalar
                    ? std::string("per tensor")
                    : concat("per channel (axis ", s.channel_axis, ")"));
}

Tensor symmetric_quantize(const Tensor& x, const Tensor& alpha, const Tensor& t_max,
                          const UniformQuantizerSpec& spec) {
  constexpr const char* kOp = "symmetric_quantize";
  check_quantizer_spec(spec);
  LOWBIT_CHECK(spec.thresholds == Thresholds::kSymmetric, kOp,
               ": spec is asymmetric; use asymmetric_quantize");
  check_same_count(kOp, "alpha", alpha, alpha.defined() ? alpha.numel() : 0);
  const int64_t count = alpha.numel();
  check_same_count(kOp, "t_max", t_max, count);
  const ChannelLayout L = channel_layout(x, spec, count, kOp);
  // T_c = clip(alpha_c) T_max_c (eq. 12-13); dT/dalpha = T_max_c on the clip range, else 0.
  auto threshold = std::make_shared<std::vector<float>>(static_cast<size_t>(count));
  auto dt_dalpha = std::make_shared<std::vector<float>>(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c) {
    const float a = alpha.data()[c], tm = t_max.data()[c];
    LOWBIT_CHECK(tm >= 0 && std::isfinite(tm), kOp, ": t_max[", c, "] = ", tm,
                 " must be finite and >= 0");
    (*threshold)[static_cast<size_t>(c)] = clip_alpha(a, spec.min_alpha, spec.max_alpha) * tm;
    (*dt_dalpha)[static_cast<size_t>(c)] =
        alpha_in_range(a, spec.min_alpha, spec.max_alpha) ? tm : 0.0f;
  }
  const kernels::CodeRange codes = kernels::symmetric_codes(spec.bits, spec.is_signed);
  Tensor y = Tensor::empty(x.shape());
  kernels::symmetric_quantize_forward(L.outer, L.channels, L.inner, x.data(), threshold->data(),
                                      codes, y.data());
  record(y, kOp, {x, alpha}, [x, alpha, threshold, dt_dalpha, codes, L](const Tensor& out) {
    std::vector<float> dthreshold(static_cast<size_t>(L.channels), 0.0f);
    kernels::symmetric_quantize_backward(L.outer, L.channels, L.inner, x.data(), threshold->data(),
                                         codes, out.grad(), x.requires_grad() ? x.grad() : nullptr,
                                         dthreshold.data());
    if (!alpha.requires_grad()) return;
    float* dalpha = alpha.grad();
    for (int64_t c = 0; c < L.channels; ++c)
      dalpha[c] += dthreshold[static_cast<size_t>(c)] * (*dt_dalpha)[static_cast<size_t>(c)];
  });
  return y;
}

Tensor asymmetric_quantize(const Tensor& x, const Tensor& alpha_left, const Tensor& alpha_width,
                           const Tensor& t_left, const Tensor& t_right,
                           const UniformQuantizerSpec& spec) {
  constexpr const char* kOp = "asymmetric_quantize";
  check_quantizer_spec(spec);
  LOWBIT_CHECK(spec.thresholds == Thresholds::kAsymmetric, kOp,
               ": spec is symmetric; use symmetric_quantize");
  check_same_count(kOp, "alpha_width", alpha_width,
                   alpha_width.defined() ? alpha_width.numel() : 0);
  const int64_t count = alpha_width.numel();
  check_same_count(kOp, "alpha_left", alpha_left, count);
  check_same_count(kOp, "t_left", t_left, count);
  check_same_count(kOp, "t_right", t_right, count);
  const ChannelLayout L = channel_layout(x, spec, count, kOp);
  // R = T_r - T_l (eq. 21), L = T_l + clip(alpha_T) R (eq. 22), W = clip(alpha_R) R (eq. 23).
  auto left = std::make_shared<std::vector<float>>(static_cast<size_t>(count));
  auto width = std::make_shared<std::vector<float>>(static_cast<size_t>(count));
  auto dleft_dalpha = std::make_shared<std::vector<float>>(static_cast<size_t>(count));
  auto dwidth_dalpha = std::make_shared<std::vector<float>>(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c) {
    const float tl = t_left.data()[c], tr = t_right.data()[c];
    LOWBIT_CHECK(std::isfinite(tl) && std::isfinite(tr) && tl <= tr, kOp, ": limits [", tl, ", ",
                 tr, "] of channel ", c, " are invalid; expected finite t_left <= t_right");
    const float r = tr - tl, al = alpha_left.data()[c], aw = alpha_width.data()[c];
    const size_t i = static_cast<size_t>(c);
    (*left)[i] = tl + clip_alpha(al, spec.min_alpha_left, spec.max_alpha_left) * r;
    (*width)[i] = clip_alpha(aw, spec.min_alpha, spec.max_alpha) * r;
    (*dleft_dalpha)[i] = alpha_in_range(al, spec.min_alpha_left, spec.max_alpha_left) ? r : 0.0f;
    (*dwidth_dalpha)[i] = alpha_in_range(aw, spec.min_alpha, spec.max_alpha) ? r : 0.0f;
  }
  const int bits = spec.bits;
  Tensor y = Tensor::empty(x.shape());
  kernels::asymmetric_quantize_forward(L.outer, L.channels, L.inner, x.data(), left->data(),
                                       width->data(), bits, y.data());
  record(y, kOp, {x, alpha_left, alpha_width},
         [x, alpha_left, alpha_width, left, width, dleft_dalpha, dwidth_dalpha, bits,
          L](const Tensor& out) {
           std::vector<float> dleft(static_cast<size_t>(L.channels), 0.0f),
               dwidth(static_cast<size_t>(L.channels), 0.0f);
           kernels::asymmetric_quantize_backward(
               L.outer, L.channels, L.inner, x.data(), left->data(), width->data(), bits,
               out.grad(), x.requires_grad() ? x.grad() : nullptr, dleft.data(), dwidth.data());
           for (int64_t c = 0; c < L.channels; ++c) {
             const size_t i = static_cast<size_t>(c);
             if (alpha_left.requires_grad()) alpha_left.grad()[c] += dleft[i] * (*dleft_dalpha)[i];
             if (alpha_width.requires_grad())
               alpha_width.grad()[c] += dwidth[i] * (*dwidth_dalpha)[i];
           }
         });
  return y;
}

std::vector<int32_t> quantize_bias_int32(const Tensor& bias, float input_scale,
                                         const std::vector<float>& weight_scales) {
  LOWBIT_CHECK(bias.rank() == 1, "quantize_bias_int32: bias shape ", bias.shape().str(),
               " should be (C,)");
  const int64_t c = bias.size(0), n = static_cast<int64_t>(weight_scales.size());
  LOWBIT_CHECK(n == 1 || n == c, "quantize_bias_int32: ", n, " weight scales for a bias of ", c,
               " values; expected 1 or ", c);
  LOWBIT_CHECK(input_scale > 0 && std::isfinite(input_scale), "quantize_bias_int32: input scale ",
               input_scale, " must be positive");
  std::vector<int32_t> out(static_cast<size_t>(c));
  kernels::quantize_bias_int32(c, bias.data(), input_scale, weight_scales.data(), n, out.data());
  return out;
}

UniformQuantizer::UniformQuantizer(const UniformQuantizerSpec& spec, int64_t channels)
    : spec_(spec), channels_(channels) {
  check_quantizer_spec(spec_);
  LOWBIT_CHECK(channels >= 1, "UniformQuantizer: channels ", channels, " must be >= 1");
  LOWBIT_CHECK(spec.granularity == Granularity::kVector || channels == 1,
               "UniformQuantizer: scalar (per tensor) mode has one threshold, got channels ",
               channels);
  if (spec_.thresholds == Thresholds::kSymmetric) {
    alpha_ = register_parameter("alpha", ParamRole::kQuantScale, Tensor::full({channels}, 1.0f));
    t_max_ = register_buffer("t_max", Tensor::zeros({channels}));
  } else {
    alpha_left_ =
        register_parameter("alpha_left", ParamRole::kQuantScale, Tensor::zeros({channels}));
    alpha_ =
        register_parameter("alpha_width", ParamRole::kQuantScale, Tensor::full({channels}, 1.0f));
    t_left_ = register_buffer("t_left", Tensor::zeros({channels}));
    t_right_ = register_buffer("t_right", Tensor::zeros({channels}));
  }
}

bool UniformQuantizer::calibrated() const {
  for (int64_t c = 0; c < channels_; ++c) {
    if (spec_.thresholds == Thresholds::kSymmetric ? t_max_.data()[c] > 0
                                                   : t_right_.data()[c] > t_left_.data()[c])
      return true;
  }
  return false;
}

Tensor UniformQuantizer::forward(const Tensor& x) {
  LOWBIT_CHECK(calibrated(), "UniformQuantizer (", describe(),
               "): every limit is 0, the quantizer is not calibrated; "
               "expected set_threshold, set_range or observe (or a loaded checkpoint) first");
  if (spec_.thresholds == Thresholds::kSymmetric)
    return symmetric_quantize(x, alpha_, t_max_, spec_);
  return asymmetric_quantize(x, alpha_left_, alpha_, t_left_, t_right_, spec_);
}

void UniformQuantizer::set_threshold(const std::vector<float>& t_max) {
  LOWBIT_CHECK(spec_.thresholds == Thresholds::kSymmetric,
               "UniformQuantizer::set_threshold: the quantizer is asymmetric; expected set_range");
  LOWBIT_CHECK(static_cast<int64_t>(t_max.size()) == channels_,
               "UniformQuantizer::set_threshold: ", t_max.size(), " thresholds; expected ",
               channels_);
  for (size_t c = 0; c < t_max.size(); ++c) {
    LOWBIT_CHECK(t_max[c] >= 0 && std::isfinite(t_max[c]),
                 "UniformQuantizer::set_threshold: T_max[", c, "] = ", t_max[c],
                 " must be finite and >= 0");
    t_max_.data()[c] = t_max[c];
  }
}

void UniformQuantizer::set_range(const std::vector<float>& left, const std::vector<float>& right) {
  LOWBIT_CHECK(spec_.thresholds == Thresholds::kAsymmetric,
               "UniformQuantizer::set_range: the quantizer is symmetric; expected set_threshold");
  LOWBIT_CHECK(static_cast<int64_t>(left.size()) == channels_ &&
                   static_cast<int64_t>(right.size()) == channels_,
               "UniformQuantizer::set_range: ", left.size(), " left and ", right.size(),
               " right limits; expected ", channels_);
  for (size_t c = 0; c < left.size(); ++c) {
    LOWBIT_CHECK(std::isfinite(left[c]) && std::isfinite(right[c]) && left[c] <= right[c],
                 "UniformQuantizer::set_range: limits [", left[c], ", ", right[c], "] of channel ",
                 c, " are invalid; expected finite left <= right");
    t_left_.data()[c] = left[c];
    t_right_.data()[c] = right[c];
  }
}

void UniformQuantizer::observe(const Tensor& x) {
  const ChannelLayout L = channel_layout(x, spec_, channels_, "UniformQuantizer::observe");
  const float* p = x.data();
  for (int64_t o = 0; o < L.outer; ++o) {
    for (int64_t c = 0; c < L.channels; ++c) {
      const float* row = p + (o * L.channels + c) * L.inner;
      float lo = 0.0f, hi = 0.0f, amax = 0.0f;  // 0 is always inside the range
      for (int64_t i = 0; i < L.inner; ++i) {
        lo = std::min(lo, row[i]);
        hi = std::max(hi, row[i]);
        amax = std::max(amax, std::fabs(row[i]));
      }
      LOWBIT_CHECK(std::isfinite(amax), "UniformQuantizer::observe: channel ", c,
                   " holds a non-finite value");
      if (spec_.thresholds == Thresholds::kSymmetric) {
        t_max_.data()[c] = std::max(t_max_.data()[c], amax);
      } else {
        t_left_.data()[c] = std::min(t_left_.data()[c], lo);
        t_right_.data()[c] = std::max(t_right_.data()[c], hi);
      }
    }
  }
}

void UniformQuantizer::reset() {
  alpha_.fill(1.0f);
  if (spec_.thresholds == Thresholds::kSymmetric) {
    t_max_.fill(0.0f);
  } else {
    alpha_left_.fill(0.0f);
    t_left_.fill(0.0f);
    t_right_.fill(0.0f);
  }
}

UniformQuantizer::Grid UniformQuantizer::grid(int64_t c) const {
  // The same float arithmetic as the ops, so that steps and zero points match the kernels exactly.
  Grid g;
  if (spec_.thresholds == Thresholds::kSymmetric) {
    const float t =
        clip_alpha(alpha_.data()[c], spec_.min_alpha, spec_.max_alpha) * t_max_.data()[c];
    const kernels::CodeRange codes = kernels::symmetric_codes(spec_.bits, spec_.is_signed);
    g.lower = spec_.is_signed ? -t : 0.0f;
    g.upper = t;
    g.step = t / codes.high;
  } else {
    const float r = t_right_.data()[c] - t_left_.data()[c];
    const float n = std::ldexp(1.0f, spec_.bits) - 1.0f;
    const float w = clip_alpha(alpha_.data()[c], spec_.min_alpha, spec_.max_alpha) * r;
    g.lower = t_left_.data()[c] +
              clip_alpha(alpha_left_.data()[c], spec_.min_alpha_left, spec_.max_alpha_left) * r;
    g.upper = g.lower + w;
    g.step = w / n;
    g.zero_point = w > 0 ? std::rint(g.lower * (n / w)) : 0.0f;
  }
  return g;
}

UniformQuantizer::CodeLimits UniformQuantizer::codes(int64_t channel) const {
  LOWBIT_CHECK(channel >= 0 && channel < channels_, "uniform quantizer: threshold ", channel,
               " of ", channels_);
  if (spec_.thresholds == Thresholds::kSymmetric) {
    const kernels::CodeRange range = kernels::symmetric_codes(spec_.bits, spec_.is_signed);
    return {static_cast<int64_t>(range.low), static_cast<int64_t>(range.high)};
  }
  const auto z = static_cast<int64_t>(grid(channel).zero_point);
  return {z, z + (int64_t{1} << spec_.bits) - 1};
}

std::vector<float> UniformQuantizer::collect(float Grid::*field) const {
  std::vector<float> out(static_cast<size_t>(channels_));
  for (int64_t c = 0; c < channels_; ++c) out[static_cast<size_t>(c)] = grid(c).*field;
  return out;
}

void UniformQuantizer::project_alphas() {
  for (int64_t c = 0; c < channels_; ++c) {
    alpha_.data()[c] = clip_alpha(alpha_.data()[c], spec_.min_alpha, spec_.max_alpha);
    if (alpha_left_.defined())
      alpha_left_.data()[c] =
          clip_alpha(alpha_left_.data()[c], spec_.min_alpha_left, spec_.max_alpha_left);
  }
}

}  // namespace lowbit
