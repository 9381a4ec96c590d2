// ResNet builders. Initialization as He et al. (2015, 2016) and torchvision: convolutions
// Kaiming-normal with fan_out, batch norm scale 1 and shift 0, the linear layer PyTorch's
// default.
#include "models/resnet.h"

#include <string>
#include <vector>

#include "core/check.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "layers/shortcut.h"
#include "models/activation_choice.h"

namespace lowbit {
namespace {

std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, Rng& rng) {
  auto c =
      std::make_shared<Conv2d>(in, out, kernel, Conv2dOptions{stride, kernel / 2, 1}, false, rng);
  kaiming_normal(c->weight(), fan_out(c->weight()), rng);
  return c;
}

// The identity when shapes match; otherwise a projection (1x1 conv + BN) or option A.
std::shared_ptr<Module> make_shortcut(int64_t in, int64_t out, int64_t stride, ShortcutKind kind,
                                      Rng& rng) {
  if (in == out && stride == 1) return nullptr;
  if (kind == ShortcutKind::kPadChannels) return std::make_shared<PadChannelsShortcut>(out, stride);
  auto projection = std::make_shared<Sequential>();
  projection->add(conv(in, out, 1, stride, rng)).add(std::make_shared<BatchNorm>(out));
  return projection;
}

template <class Block>
std::shared_ptr<Sequential> make_stage(int64_t& in, int64_t channels, int blocks, int64_t stride,
                                       ShortcutKind shortcut, const ActivationSpec& activation,
                                       Rng& rng) {
  auto stage = std::make_shared<Sequential>();
  for (int b = 0; b < blocks; ++b) {
    stage->add(
        std::make_shared<Block>(in, channels, b == 0 ? stride : 1, shortcut, activation, rng));
    in = channels * Block::kExpansion;
  }
  return stage;
}

// A ResNet holding its stem under torchvision's names: conv1, bn1, relu (a 3x3 convolution and no
// max pooling, for 32x32 inputs).
std::shared_ptr<ResNet> resnet_with_stem(int64_t in, int64_t out, const ActivationSpec& activation,
                                         Rng& rng) {
  auto net = std::make_shared<ResNet>();
  net->add("conv1", conv(in, out, 3, 1, rng)).add("bn1", std::make_shared<BatchNorm>(out));
  net->add("relu", make_activation(activation));
  return net;
}

// Appends layer1, layer2, ... (one stage of `blocks` blocks for each width; the first stage keeps
// the resolution, each later one halves it), then average pooling and the linear classifier.
template <class Block>
std::shared_ptr<Module> add_layers(std::shared_ptr<ResNet> net, int64_t in,
                                   const std::vector<int64_t>& widths,
                                   const std::vector<int>& blocks, ShortcutKind shortcut,
                                   const ModelOptions& o, Rng& rng) {
  for (size_t s = 0; s < widths.size(); ++s) {
    net->add(
        "layer" + std::to_string(s + 1),
        make_stage<Block>(in, widths[s], blocks[s], s == 0 ? 1 : 2, shortcut, o.activation, rng));
  }
  net->add("avgpool", std::make_shared<GlobalAvgPool>());
  net->add("fc", std::make_shared<Linear>(in, o.num_classes, true, rng));
  return net;
}

template <class Block>
std::shared_ptr<Module> make_cifar_resnet(const char* name, const std::vector<int>& blocks,
                                          const ModelOptions& o, Rng& rng) {
  LOWBIT_CHECK(o.image_size == 32, name, ": input side ", o.image_size,
               " is not supported; expected 32");
  return add_layers<Block>(resnet_with_stem(o.in_channels, 64, o.activation, rng), 64,
                           {64, 128, 256, 512}, blocks, ShortcutKind::kProjection, o, rng);
}

std::shared_ptr<Module> make_he_cifar_resnet(const char* name, int n, const ModelOptions& o,
                                             Rng& rng) {
  LOWBIT_CHECK(o.image_size == 32, name, ": input side ", o.image_size,
               " is not supported; expected 32");
  return add_layers<BasicBlock>(resnet_with_stem(o.in_channels, 16, o.activation, rng), 16,
                                {16, 32, 64}, {n, n, n}, ShortcutKind::kPadChannels, o, rng);
}

}  // namespace

// Children are called through the registered table, so that replace_child (BN folding) takes
// effect.
Tensor ResidualBlock::forward(const Tensor& x) {
  const Tensor levels = input_activation_.empty() ? x : child(input_activation_)(x);
  Tensor h = levels;
  for (const std::string& name : branch_) h = child(name)(h);
  const Tensor shortcut =
      shortcut_.empty() ? x : child(shortcut_)(shortcut_reads_levels() ? levels : x);
  const Tensor sum = add(h, shortcut);
  return activation_.empty() ? sum : child(activation_)(sum);
}

void ResidualBlock::add_to_branch(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, std::move(module));
  branch_.push_back(name);
}

void ResidualBlock::add_conv_bn(int k, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                Rng& rng) {
  add_to_branch("conv" + std::to_string(k), conv(in, out, kernel, stride, rng));
  add_to_branch("bn" + std::to_string(k), std::make_shared<BatchNorm>(out));
}

// torchvision's "downsample" for a projection, "shortcut" for option A (as the common PyTorch
// CIFAR ResNets name it).
void ResidualBlock::set_shortcut(std::shared_ptr<Module> shortcut) {
  if (!shortcut) return;
  shortcut_ = dynamic_cast<PadChannelsShortcut*>(shortcut.get()) ? "shortcut" : "downsample";
  register_module(shortcut_, std::move(shortcut));
}

void ResidualBlock::set_activation(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, std::move(module));
  activation_ = name;
}

void ResidualBlock::set_input_activation(std::shared_ptr<Module> module) {
  input_activation_ = "relu_in";
  register_module(input_activation_, std::move(module));
}

void ResidualBlock::place_activation(bool at_input, const std::string& name,
                                     const ActivationSpec& spec) {
  const bool wanted_at_input = spec.residual == ActivationSpec::Residual::kBranchInput;
  if (at_input && wanted_at_input) set_input_activation(make_activation(spec));
  if (!at_input && !wanted_at_input) set_activation(name, make_activation(spec));
}

BasicBlock::BasicBlock(int64_t in, int64_t channels, int64_t stride, ShortcutKind shortcut,
                       const ActivationSpec& activation, Rng& rng) {
  place_activation(true, "relu2", activation);
  add_conv_bn(1, in, channels, 3, stride, rng);
  add_to_branch("relu1", make_activation(activation));
  add_conv_bn(2, channels, channels, 3, 1, rng);
  set_shortcut(make_shortcut(in, channels, stride, shortcut, rng));
  place_activation(false, "relu2", activation);
}

Bottleneck::Bottleneck(int64_t in, int64_t channels, int64_t stride, ShortcutKind shortcut,
                       const ActivationSpec& activation, Rng& rng) {
  const int64_t out = channels * kExpansion;
  place_activation(true, "relu3", activation);
  add_conv_bn(1, in, channels, 1, 1, rng);
  add_to_branch("relu1", make_activation(activation));
  add_conv_bn(2, channels, channels, 3, stride, rng);
  add_to_branch("relu2", make_activation(activation));
  add_conv_bn(3, channels, out, 1, 1, rng);
  set_shortcut(make_shortcut(in, out, stride, shortcut, rng));
  place_activation(false, "relu3", activation);
}

std::shared_ptr<Module> make_resnet18(const ModelOptions& o, Rng& rng) {
  return make_cifar_resnet<BasicBlock>("resnet18", {2, 2, 2, 2}, o, rng);
}
std::shared_ptr<Module> make_resnet34(const ModelOptions& o, Rng& rng) {
  return make_cifar_resnet<BasicBlock>("resnet34", {3, 4, 6, 3}, o, rng);
}
std::shared_ptr<Module> make_resnet50(const ModelOptions& o, Rng& rng) {
  return make_cifar_resnet<Bottleneck>("resnet50", {3, 4, 6, 3}, o, rng);
}
std::shared_ptr<Module> make_resnet20(const ModelOptions& o, Rng& rng) {
  return make_he_cifar_resnet("resnet20", 3, o, rng);
}
std::shared_ptr<Module> make_resnet56(const ModelOptions& o, Rng& rng) {
  return make_he_cifar_resnet("resnet56", 9, o, rng);
}

int64_t zero_init_residual(Module& model) {
  int64_t blocks = 0;
  if (auto* block = dynamic_cast<ResidualBlock*>(&model)) {
    const std::string& last = block->branch().back();
    auto* bn = dynamic_cast<BatchNorm*>(&model.child(last));
    LOWBIT_CHECK(bn != nullptr, "zero_init_residual: ", model.type_name(), "'s ", last, " is a ",
                 model.child(last).type_name(), ", expected a BatchNorm");
    bn->weight().fill(0.0f);
    blocks = 1;
  }
  for (const auto& [name, child] : model.children()) blocks += zero_init_residual(*child);
  return blocks;
}

}  // namespace lowbit
