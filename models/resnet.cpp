// ResNet builders. Initialization as He et al. (2015, 2016) and torchvision: convolutions
// Kaiming-normal with fan_out, batch norm scale 1 and shift 0, the linear layer PyTorch's
// default.
#include "models/resnet.h"

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
  auto c = std::make_shared<Conv2d>(in, out, kernel, Conv2dOptions{stride, kernel / 2, 1}, false, rng);
  kaiming_normal(c->weight(), fan_out(c->weight()), rng);
  return c;
}

// The identity when shapes match; otherwise a projection (1x1 conv + BN) or option A.
std::shared_ptr<Module> make_shortcut(int64_t in, int64_t out, int64_t stride, ShortcutKind kind, Rng& rng) {
  if (in == out && stride == 1) return nullptr;
  if (kind == ShortcutKind::kPadChannels) return std::make_shared<PadChannelsShortcut>(out, stride);
  auto projection = std::make_shared<Sequential>();
  projection->add(conv(in, out, 1, stride, rng)).add(std::make_shared<BatchNorm>(out));
  return projection;
}

template <class Block>
std::shared_ptr<Sequential> make_stage(int64_t& in, int64_t channels, int blocks, int64_t stride,
                                       ShortcutKind shortcut, const ActivationSpec& activation, Rng& rng) {
  auto stage = std::make_shared<Sequential>();
  for (int b = 0; b < blocks; ++b) {
    stage->add(std::make_shared<Block>(in, channels, b == 0 ? stride : 1, shortcut, activation, rng));
    in = channels * Block::kExpansion;
  }
  return stage;
}

std::shared_ptr<Module> make_stem(int64_t in, int64_t out, const ActivationSpec& activation, Rng& rng) {
  auto stem = std::make_shared<Sequential>();
  stem->add(conv(in, out, 3, 1, rng)).add(std::make_shared<BatchNorm>(out)).add(make_activation(activation));
  return stem;
}

template <class Block>
std::shared_ptr<Module> make_cifar_resnet(const char* name, const std::vector<int>& blocks, const ModelOptions& o, Rng& rng) {
  LOWBIT_CHECK(o.image_size == 32, name, ": input side ", o.image_size, " is not supported; expected 32");
  auto stem = make_stem(o.in_channels, 64, o.activation, rng);
  auto stages = std::make_shared<Sequential>();
  int64_t in = 64;
  const int64_t widths[] = {64, 128, 256, 512};
  for (size_t s = 0; s < 4; ++s) {
    stages->add(
        make_stage<Block>(in, widths[s], blocks[s], s == 0 ? 1 : 2, ShortcutKind::kProjection, o.activation, rng));
  }
  return std::make_shared<ResNet>(stem, stages, in, o.num_classes, rng);
}

std::shared_ptr<Module> make_he_cifar_resnet(const char* name, int n, const ModelOptions& o, Rng& rng) {
  LOWBIT_CHECK(o.image_size == 32, name, ": input side ", o.image_size, " is not supported; expected 32");
  auto stem = make_stem(o.in_channels, 16, o.activation, rng);
  auto stages = std::make_shared<Sequential>();
  int64_t in = 16;
  const int64_t widths[] = {16, 32, 64};
  for (size_t s = 0; s < 3; ++s) {
    stages->add(
        make_stage<BasicBlock>(in, widths[s], n, s == 0 ? 1 : 2, ShortcutKind::kPadChannels, o.activation, rng));
  }
  return std::make_shared<ResNet>(stem, stages, in, o.num_classes, rng);
}

// The block's output before the last activation: residual plus the shortcut of x (its registered
// "shortcut" child, or x itself).
Tensor add_shortcut(const Module& block, const Tensor& residual, const Tensor& x, bool has_shortcut) {
  return add(residual, has_shortcut ? block.child("shortcut")(x) : x);
}

}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t channels, int64_t stride, ShortcutKind shortcut,
                       const ActivationSpec& activation, Rng& rng) {
  register_module("conv1", conv(in, channels, 3, stride, rng));
  register_module("bn1", std::make_shared<BatchNorm>(channels));
  register_module("relu1", make_activation(activation));
  register_module("conv2", conv(channels, channels, 3, 1, rng));
  register_module("bn2", std::make_shared<BatchNorm>(channels));
  auto s = make_shortcut(in, channels, stride, shortcut, rng);
  has_shortcut_ = s != nullptr;
  if (s) register_module("shortcut", s);
  register_module("relu2", make_activation(activation));
}

// Children are called through the registered table, so that replace_child (BN folding) takes effect.
Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = child("relu1")(child("bn1")(child("conv1")(x)));
  h = child("bn2")(child("conv2")(h));
  return child("relu2")(add_shortcut(*this, h, x, has_shortcut_));
}

Bottleneck::Bottleneck(int64_t in, int64_t channels, int64_t stride, ShortcutKind shortcut,
                       const ActivationSpec& activation, Rng& rng) {
  const int64_t out = channels * kExpansion;
  register_module("conv1", conv(in, channels, 1, 1, rng));
  register_module("bn1", std::make_shared<BatchNorm>(channels));
  register_module("relu1", make_activation(activation));
  register_module("conv2", conv(channels, channels, 3, stride, rng));
  register_module("bn2", std::make_shared<BatchNorm>(channels));
  register_module("relu2", make_activation(activation));
  register_module("conv3", conv(channels, out, 1, 1, rng));
  register_module("bn3", std::make_shared<BatchNorm>(out));
  auto s = make_shortcut(in, out, stride, shortcut, rng);
  has_shortcut_ = s != nullptr;
  if (s) register_module("shortcut", s);
  register_module("relu3", make_activation(activation));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor h = child("relu1")(child("bn1")(child("conv1")(x)));
  h = child("relu2")(child("bn2")(child("conv2")(h)));
  h = child("bn3")(child("conv3")(h));
  return child("relu3")(add_shortcut(*this, h, x, has_shortcut_));
}

ResNet::ResNet(std::shared_ptr<Module> stem, std::shared_ptr<Module> stages, int64_t features, int64_t classes, Rng& rng) {
  register_module("stem", std::move(stem));
  register_module("stages", std::move(stages));
  register_module("pool", std::make_shared<GlobalAvgPool>());
  register_module("fc", std::make_shared<Linear>(features, classes, true, rng));
}

Tensor ResNet::forward(const Tensor& x) { return child("fc")(child("pool")(child("stages")(child("stem")(x)))); }

std::shared_ptr<Module> make_resnet18(const ModelOptions& o, Rng& rng) { return make_cifar_resnet<BasicBlock>("resnet18", {2, 2, 2, 2}, o, rng); }
std::shared_ptr<Module> make_resnet34(const ModelOptions& o, Rng& rng) { return make_cifar_resnet<BasicBlock>("resnet34", {3, 4, 6, 3}, o, rng); }
std::shared_ptr<Module> make_resnet50(const ModelOptions& o, Rng& rng) { return make_cifar_resnet<Bottleneck>("resnet50", {3, 4, 6, 3}, o, rng); }
std::shared_ptr<Module> make_resnet20(const ModelOptions& o, Rng& rng) { return make_he_cifar_resnet("resnet20", 3, o, rng); }
std::shared_ptr<Module> make_resnet56(const ModelOptions& o, Rng& rng) { return make_he_cifar_resnet("resnet56", 9, o, rng); }

int64_t zero_init_residual(Module& model) {
  int64_t blocks = 0;
  if (dynamic_cast<BasicBlock*>(&model) || dynamic_cast<Bottleneck*>(&model)) {
    const char* last = dynamic_cast<BasicBlock*>(&model) ? "bn2" : "bn3";
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
