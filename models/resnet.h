// ResNets for 32x32 inputs.
//  - resnet18/34 (BasicBlock) and resnet50 (Bottleneck) in the common CIFAR form: 3x3
//    stem, no max pooling, stages of 64/128/256/512 channels, 1x1 projection shortcuts.
//    resnet18's 20 convolution weights come in the order of Table 5 of the power-of-two
//    paper: in each block conv1, conv2, then the shortcut's 1x1 convolution.
//  - resnet20/56: He et al.'s CIFAR ResNets (6n+2 layers, 16/32/64 channels) with their
//    parameter-free option-A shortcuts (subsample and zero-pad channels).
// Every ReLU is ModelOptions::activation's module (the power-of-two activation, eq. 2-7, on
// request).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "layers/module.h"
#include "layers/sequential.h"
#include "models/model_options.h"

namespace lowbit {

enum class ShortcutKind { kProjection, kPadChannels };

// A residual block: y = activation(branch(x) + shortcut(x)), the branch a chain of children
// applied in order; or, with the activation at the branch's input (ActivationSpec::Residual),
// y = branch(a(x)) + shortcut(x), where a projection shortcut also reads a(x). Its parts are named
// children (called by name, so that replace_child, as BN folding uses it, takes effect); model
// transformations find them through the accessors below rather than by spelling the names.
class ResidualBlock : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  // The branch's children in the order forward applies them (conv1, bn1, relu1, conv2, bn2, ...);
  // the last is the branch's last batch norm.
  const std::vector<std::string>& branch() const { return branch_; }
  // The shortcut child: "downsample" for a projection (1x1 conv + BN), "shortcut" for option A;
  // "" for the identity, which is no child.
  const std::string& shortcut() const { return shortcut_; }
  // Whether the shortcut reads the activation's levels a(x) rather than x: a projection convolves
  // like the branch does, so it reads what the branch reads; option A only subsamples and pads
  // the stream, and the identity is the stream. Differs from reading x only when the block has its
  // activation at the input.
  bool shortcut_reads_levels() const { return shortcut_ == "downsample"; }
  // The activation applied after the addition; "" when the block has it at its input instead.
  const std::string& activation() const { return activation_; }
  // The activation applied to the block's input before the branch (and a projection shortcut);
  // "" when the block has it after the addition.
  const std::string& input_activation() const { return input_activation_; }

 protected:
  // The constructors of the blocks register their parts through these, in the order of forward.
  void add_to_branch(const std::string& name, std::shared_ptr<Module> module);
  // conv<k> (bias-free, Kaiming-normal, padded to keep the size at stride 1) and its batch norm
  // bn<k>, appended to the branch.
  void add_conv_bn(int k, int64_t in, int64_t out, int64_t kernel, int64_t stride, Rng& rng);
  void set_shortcut(std::shared_ptr<Module> shortcut);  // null: the identity
  void set_activation(const std::string& name, std::shared_ptr<Module> module);
  void set_input_activation(std::shared_ptr<Module> module);  // named "relu_in"
  // The block's last activation where `spec` places it: after the addition as `name`, or at the
  // input. Called with the input first and the addition last, so that children register in the
  // order forward applies them.
  void place_activation(bool at_input, const std::string& name, const ActivationSpec& spec);

 private:
  std::vector<std::string> branch_;
  std::string shortcut_, activation_, input_activation_;
};

// conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (each ReLU is `activation`'s module).
class BasicBlock : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t in_channels, int64_t channels, int64_t stride, ShortcutKind shortcut,
             const ActivationSpec& activation, Rng& rng);
  std::string type_name() const override { return "BasicBlock"; }
};

// conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(4x)-BN plus the shortcut, then ReLU (each
// ReLU is `activation`'s module).
class Bottleneck : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in_channels, int64_t channels, int64_t stride, ShortcutKind shortcut,
             const ActivationSpec& activation, Rng& rng);
  std::string type_name() const override { return "Bottleneck"; }
};

// The stem (conv1, bn1, relu), the stages of blocks (layer1, layer2, ...), global average pooling
// (avgpool) and the linear classifier (fc), applied in order: torchvision's names, so that a layer
// reads "layer2.0.conv1" and a projection shortcut "layer2.0.downsample.0" (option A's, which has
// no parameters, is "shortcut").
class ResNet : public Sequential {
 public:
  std::string type_name() const override { return "ResNet"; }
};

std::shared_ptr<Module> make_resnet18(const ModelOptions& options, Rng& rng);
std::shared_ptr<Module> make_resnet34(const ModelOptions& options, Rng& rng);
std::shared_ptr<Module> make_resnet50(const ModelOptions& options, Rng& rng);
std::shared_ptr<Module> make_resnet20(const ModelOptions& options, Rng& rng);
std::shared_ptr<Module> make_resnet56(const ModelOptions& options, Rng& rng);

// Sets the scale of the last BN in every residual branch (bn2 of a BasicBlock, bn3 of a
// Bottleneck) to zero, so that each block starts as its shortcut alone (Goyal et al. 2017, for
// large-batch training; torchvision's zero_init_residual): the network begins shallow. (On
// ResNet-20's 30-epoch CIFAR-10 recipe it slowed the start: 73.95% against 77.71% training
// accuracy after 9 epochs, docs/baselines.md.) Returns the number of blocks changed (0: the
// model has no residual block).
int64_t zero_init_residual(Module& model);

}  // namespace lowbit
