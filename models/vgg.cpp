// VGG builders. Initialization as torchvision's VGG: convolutions Kaiming-normal
// (fan_out), linear layers N(0, 0.01) with zero bias.
#include "models/vgg.h"

#include <vector>

#include "core/check.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "models/activation_choice.h"

namespace lowbit {
namespace {

constexpr int kPool = 0;  // marks a 2x2 max pooling in a configuration

// Appends conv3x3-BN-activation for each width and a max pooling for each kPool (named by position,
// features.0, features.1, ... as torchvision's VGG); returns the channel count at the end.
int64_t add_features(Sequential& net, const std::vector<int64_t>& config, int64_t channels,
                     const ActivationSpec& activation, Rng& rng) {
  for (int64_t width : config) {
    if (width == kPool) {
      net.add(std::make_shared<MaxPool2d>(2));
      continue;
    }
    auto conv = std::make_shared<Conv2d>(channels, width, 3, Conv2dOptions{1, 1, 1}, false, rng);
    kaiming_normal(conv->weight(), fan_out(conv->weight()), rng);
    net.add(conv).add(std::make_shared<BatchNorm>(width)).add(make_activation(activation));
    channels = width;
  }
  return channels;
}

std::shared_ptr<Linear> classifier_linear(int64_t in, int64_t out, Rng& rng) {
  auto fc = std::make_shared<Linear>(in, out, true, rng);
  normal_fill(fc->weight(), 0.0f, 0.01f, rng);
  fc->bias().fill(0.0f);
  return fc;
}

void check_input(const char* name, const ModelOptions& o) {
  LOWBIT_CHECK(o.image_size == 32, name, ": input side ", o.image_size,
               " is not supported; expected 32");
}

// torchvision's VGG layout: "features" (the convolutions) then "classifier" (the linear layers),
// here with the flattening between them as a child of its own.
std::shared_ptr<Sequential> make_vgg(std::shared_ptr<Sequential> features,
                                     std::shared_ptr<Sequential> classifier) {
  auto net = std::make_shared<Sequential>();
  net->add("features", std::move(features)).add("flatten", std::make_shared<Flatten>());
  net->add("classifier", std::move(classifier));
  return net;
}

std::shared_ptr<Sequential> make_cifar_vgg(const char* name, const std::vector<int64_t>& config,
                                           const ModelOptions& o, Rng& rng) {
  check_input(name, o);
  auto features = std::make_shared<Sequential>();
  const int64_t channels = add_features(*features, config, o.in_channels, o.activation, rng);
  auto classifier = std::make_shared<Sequential>();
  classifier->add(classifier_linear(channels, o.num_classes, rng));
  return make_vgg(features, classifier);
}

}  // namespace

std::shared_ptr<Sequential> make_vgg7(const ModelOptions& o, Rng& rng) {
  check_input("vgg7", o);
  auto features = std::make_shared<Sequential>();
  const int64_t channels =
      add_features(*features, {128, 128, kPool, 256, 256, kPool, 512, 512, kPool}, o.in_channels,
                   o.activation, rng);
  auto classifier = std::make_shared<Sequential>();
  classifier->add(classifier_linear(channels * 4 * 4, 1024, rng))
      .add(std::make_shared<BatchNorm>(1024))
      .add(make_activation(o.activation))
      .add(classifier_linear(1024, o.num_classes, rng));
  return make_vgg(features, classifier);
}

std::shared_ptr<Sequential> make_vgg11(const ModelOptions& o, Rng& rng) {
  return make_cifar_vgg(
      "vgg11", {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool}, o, rng);
}

std::shared_ptr<Sequential> make_vgg16(const ModelOptions& o, Rng& rng) {
  return make_cifar_vgg("vgg16",
                        {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool, 512, 512, 512, kPool,
                         512, 512, 512, kPool},
                        o, rng);
}

}  // namespace lowbit
