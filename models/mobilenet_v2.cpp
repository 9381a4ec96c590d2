// MobileNet-v2 builder, with torchvision's initialization (convolutions Kaiming-normal
// fan_out, linear N(0, 0.01)) and its channel rounding to multiples of 8.
#include "models/mobilenet_v2.h"

#include <algorithm>

#include "core/check.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/elementwise.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "models/activation_choice.h"

namespace lowbit {
namespace {

// Rounds channels * multiplier to a multiple of 8, never below 90% of it (torchvision).
int64_t make_divisible(float channels) {
  const int64_t divisor = 8;
  int64_t v = std::max<int64_t>(
      divisor, static_cast<int64_t>(channels + divisor / 2.0f) / divisor * divisor);
  if (static_cast<float>(v) < 0.9f * channels) v += divisor;
  return v;
}

// MobileNet-v2's float activation is ReLU6; a quantized choice replaces it (its levels are bounded
// already, so the clip at 6 has no counterpart).
std::shared_ptr<Module> make_block_activation(const ActivationSpec& activation) {
  if (activation.kind == ActivationSpec::Kind::kRelu) return std::make_shared<ReLU6>();
  return make_activation(activation);
}

std::shared_ptr<Conv2d> make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                  int64_t groups, Rng& rng) {
  auto conv = std::make_shared<Conv2d>(in, out, kernel, Conv2dOptions{stride, kernel / 2, groups},
                                       false, rng);
  kaiming_normal(conv->weight(), fan_out(conv->weight()), rng);
  return conv;
}

// conv-BN-activation as one child, torchvision's Conv2dNormActivation: its layers are <name>.0, .1,
// .2.
std::shared_ptr<Sequential> conv_bn_activation(int64_t in, int64_t out, int64_t kernel,
                                               int64_t stride, int64_t groups,
                                               const ActivationSpec& activation, Rng& rng) {
  auto block = std::make_shared<Sequential>();
  block->add(make_conv(in, out, kernel, stride, groups, rng))
      .add(std::make_shared<BatchNorm>(out))
      .add(make_block_activation(activation));
  return block;
}

}  // namespace

InvertedResidual::InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t expansion,
                                   const ActivationSpec& activation, Rng& rng)
    : residual_(stride == 1 && in == out) {
  // torchvision's layout: "conv" holds [expansion conv-BN-activation,] depthwise
  // conv-BN-activation, then the linear bottleneck's conv and BN as two children.
  auto conv = std::make_shared<Sequential>();
  const int64_t hidden = in * expansion;
  if (expansion != 1) conv->add(conv_bn_activation(in, hidden, 1, 1, 1, activation, rng));
  conv->add(conv_bn_activation(hidden, hidden, 3, stride, hidden, activation, rng));  // depthwise
  conv->add(make_conv(hidden, out, 1, 1, 1, rng))
      .add(std::make_shared<BatchNorm>(out));  // linear bottleneck
  register_module("conv", conv);
}

// "conv" is called through the registered table, so that replace_child takes effect.
Tensor InvertedResidual::forward(const Tensor& x) {
  Tensor y = child("conv")(x);
  return residual_ ? add(x, y) : y;
}

std::shared_ptr<Module> make_mobilenet_v2(const ModelOptions& o, Rng& rng) {
  LOWBIT_CHECK(o.width_multiplier > 0.0f, "mobilenetv2: width multiplier ", o.width_multiplier,
               " must be positive");
  LOWBIT_CHECK(o.image_size >= 16, "mobilenetv2: input side ", o.image_size,
               " is too small; expected >= 16");
  const bool small_input = o.image_size <= 64;
  struct Stage {
    int64_t expansion, channels, blocks, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, small_input ? 1 : 2},
                          {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2},
                          {6, 320, 1, 1}};
  const float m = o.width_multiplier;
  // torchvision's layout: features.0 the stem, features.1.. the blocks, then the last 1x1
  // conv-BN-activation; the pooling (a function call in torchvision) and the classifier (dropout,
  // linear) after it.
  auto features = std::make_shared<Sequential>();
  int64_t in = make_divisible(32 * m);
  features->add(
      conv_bn_activation(o.in_channels, in, 3, small_input ? 1 : 2, 1, o.activation, rng));
  for (const Stage& s : stages) {
    const int64_t out = make_divisible(static_cast<float>(s.channels) * m);
    for (int64_t b = 0; b < s.blocks; ++b) {
      features->add(std::make_shared<InvertedResidual>(in, out, b == 0 ? s.stride : 1, s.expansion,
                                                       o.activation, rng));
      in = out;
    }
  }
  const int64_t last = make_divisible(1280 * std::max(1.0f, m));
  features->add(conv_bn_activation(in, last, 1, 1, 1, o.activation, rng));
  auto fc = std::make_shared<Linear>(last, o.num_classes, true, rng);
  normal_fill(fc->weight(), 0.0f, 0.01f, rng);
  fc->bias().fill(0.0f);
  auto classifier = std::make_shared<Sequential>();
  classifier->add(std::make_shared<Dropout>(0.2f)).add(fc);
  auto net = std::make_shared<Sequential>();
  net->add("features", features)
      .add("avgpool", std::make_shared<GlobalAvgPool>())
      .add("classifier", classifier);
  return net;
}

}  // namespace lowbit
