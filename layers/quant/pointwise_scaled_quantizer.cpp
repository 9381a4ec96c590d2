// Point-wise weight scale factors (FAT section 4.2): the op clip(s) * x with its backward, and the
// quantizer that applies it before its inner quantizer.
#include "layers/quant/pointwise_scaled_quantizer.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/check.h"

namespace lowbit {

Tensor pointwise_scale(const Tensor& x, const Tensor& scale, float low, float high) {
  LOWBIT_CHECK(scale.shape() == x.shape(), "pointwise_scale: scale shape ", scale.shape().str(),
               " differs from input shape ", x.shape().str(), "; expected one factor per element");
  LOWBIT_CHECK(low > 0.0f && low <= high && std::isfinite(high), "pointwise_scale: range [", low,
               ", ", high, "] is invalid; expected 0 < low <= high (the paper's [0.75, 1.25])");
  Tensor y = Tensor::empty(x.shape());
  const float *px = x.data(), *ps = scale.data();
  float* py = y.data();
  for (int64_t i = 0; i < x.numel(); ++i) py[i] = std::min(std::max(ps[i], low), high) * px[i];
  record(y, "pointwise_scale", {x, scale}, [x, scale, low, high](const Tensor& out) {
    const float *dy = out.grad(), *px = x.data(), *ps = scale.data();
    if (x.requires_grad()) {
      float* dx = x.grad();
      for (int64_t i = 0; i < x.numel(); ++i) dx[i] += dy[i] * std::min(std::max(ps[i], low), high);
    }
    if (scale.requires_grad()) {
      float* ds = scale.grad();
      for (int64_t i = 0; i < x.numel(); ++i)
        if (ps[i] >= low && ps[i] <= high)
          ds[i] += dy[i] * px[i];  // clip' on the closed range (eq. 19)
    }
  });
  return y;
}

PointwiseScaledQuantizer::PointwiseScaledQuantizer(std::shared_ptr<Quantizer> inner,
                                                   const Shape& weight_shape, float low, float high)
    : low_(low), high_(high) {
  LOWBIT_CHECK(inner != nullptr,
               "PointwiseScaledQuantizer: the inner quantizer is null; expected a Quantizer");
  LOWBIT_CHECK(low > 0.0f && low <= 1.0f && high >= 1.0f && std::isfinite(high),
               "PointwiseScaledQuantizer: range [", low, ", ", high,
               "] is invalid; expected 0 < low <= 1 <= high (the paper's [0.75, 1.25])");
  inner_ = register_module("inner", std::move(inner));
  scale_ = register_parameter("scale", ParamRole::kQuantScale, Tensor::full(weight_shape, 1.0f));
}

Tensor PointwiseScaledQuantizer::forward(const Tensor& x) {
  return quantize_optional(inner_, pointwise_scale(x, scale_, low_, high_),
                           "PointwiseScaledQuantizer");
}

Tensor PointwiseScaledQuantizer::scaled(const Tensor& x) const {
  NoGradGuard no_grad;
  return pointwise_scale(x, scale_, low_, high_);
}

std::string PointwiseScaledQuantizer::describe() const {
  return concat(inner_->describe(), ", point-wise weight scales in [", low_, ", ", high_, "]");
}

void PointwiseScaledQuantizer::project_scales() {
  float* s = scale_.data();
  for (int64_t i = 0; i < scale_.numel(); ++i) s[i] = std::min(std::max(s[i], low_), high_);
}

}  // namespace lowbit
