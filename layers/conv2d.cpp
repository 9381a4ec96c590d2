// conv2d: argument checks, kernel dispatch and the backward node
//   dx += conv_transpose(dy, W),  dW += dy (x) x,  db += sum dy.
#include "layers/conv2d.h"

#include <cmath>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/init.h"
#include "layers/kernels/conv2d_kernels.h"
#include "layers/kernels/depthwise3x3.h"
#include "layers/kernels/wide_conv.h"

namespace lowbit {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o) {
  LOWBIT_CHECK(x.rank() == 4, "conv2d: input shape ", x.shape().str(), " should be (N, C, H, W)");
  LOWBIT_CHECK(weight.rank() == 4, "conv2d: weight shape ", weight.shape().str(),
               " should be (C_out, C_in/groups, kh, kw)");
  LOWBIT_CHECK(o.stride >= 1, "conv2d: stride ", o.stride, " must be >= 1");
  LOWBIT_CHECK(o.padding >= 0, "conv2d: padding ", o.padding, " must be >= 0");
  LOWBIT_CHECK(o.groups >= 1, "conv2d: groups ", o.groups, " must be >= 1");
  const int64_t c_in = x.size(1), c_out = weight.size(0);
  LOWBIT_CHECK(c_in % o.groups == 0 && c_out % o.groups == 0, "conv2d: channels ", c_in, " -> ",
               c_out, " are not divisible by groups ", o.groups);
  LOWBIT_CHECK(weight.size(1) * o.groups == c_in, "conv2d: weight shape ", weight.shape().str(),
               " does not fit input ", x.shape().str(), " with groups ", o.groups,
               "; expected weight.size(1) = ", c_in / o.groups);
  const kernels::ConvGeometry g{x.size(0),      c_in,           x.size(2), x.size(3), c_out,
                                weight.size(2), weight.size(3), o.stride,  o.padding, o.groups};
  LOWBIT_CHECK(g.height + 2 * o.padding >= g.kernel_h && g.width + 2 * o.padding >= g.kernel_w,
               "conv2d: kernel ", g.kernel_h, "x", g.kernel_w, " is larger than the padded input ",
               g.height + 2 * o.padding, "x", g.width + 2 * o.padding);
  if (bias.defined()) {
    LOWBIT_CHECK(bias.rank() == 1 && bias.size(0) == c_out, "conv2d: bias shape ",
                 bias.shape().str(), " should be (", c_out, ",)");
  }
  const bool depthwise3x3 = kernels::depthwise3x3_applies(g);
  Tensor y = Tensor::empty({g.batch, c_out, g.out_height(), g.out_width()});
  const float* b = bias.defined() ? bias.data() : nullptr;
  if (o.wide_sums && !grad_enabled()) {
    kernels::conv2d_forward_wide(g, x.data(), weight.data(), b, y.data());
  } else if (depthwise3x3) {
    kernels::depthwise3x3_forward(g, x.data(), weight.data(), b, y.data());
  } else if (o.exact_sums && !grad_enabled()) {
    kernels::conv2d_forward_im2col(g, x.data(), weight.data(), b, y.data());
  } else {
    kernels::conv2d_forward(g, x.data(), weight.data(), b, y.data());
  }
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  record(y, "conv2d", inputs, [x, weight, bias, g, depthwise3x3](const Tensor& out) {
    const float* dy = out.grad();
    float* dw = weight.requires_grad() ? weight.grad() : nullptr;
    float* db = bias.defined() && bias.requires_grad() ? bias.grad() : nullptr;
    if (depthwise3x3) {
      if (x.requires_grad()) kernels::depthwise3x3_backward_input(g, dy, weight.data(), x.grad());
      if (dw || db) kernels::depthwise3x3_backward_weight(g, x.data(), dy, dw, db);
    } else {
      if (x.requires_grad()) {
        bool fresh = false;
        float* dx = x.grad_for_write(fresh);
        kernels::conv2d_backward_input(g, dy, weight.data(), dx, fresh);
      }
      if (dw || db) kernels::conv2d_backward_weight(g, x.data(), dy, dw, db);
    }
  });
  return y;
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
               Conv2dOptions options, bool bias, Rng& rng)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      options_(options) {
  LOWBIT_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0,
               "Conv2d: sizes must be positive, got ", in_channels, " -> ", out_channels,
               " kernel ", kernel_size);
  LOWBIT_CHECK(options.groups >= 1 && in_channels % options.groups == 0 &&
                   out_channels % options.groups == 0,
               "Conv2d: channels ", in_channels, " -> ", out_channels,
               " are not divisible by groups ", options.groups);
  Tensor w = Tensor::empty({out_channels, in_channels / options.groups, kernel_size, kernel_size});
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in(w)));
  uniform_fill(w, -bound, bound, rng);
  weight_ = register_parameter("weight", ParamRole::kWeight, w);
  if (bias) {
    Tensor b = Tensor::empty({out_channels});
    uniform_fill(b, -bound, bound, rng);
    bias_ = register_parameter("bias", ParamRole::kBias, b);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  if (!quantized()) return conv2d(x, weight_, bias_, options_);  // float
  return conv2d(quantized_input(x), quantized_weight(), bias_, options_);
}

}  // namespace lowbit
