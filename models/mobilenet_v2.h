// MobileNet-v2 (Sandler et al. 2018): inverted residual blocks of pointwise expansion,
// depthwise 3x3 and a linear pointwise projection, ReLU6, width multiplier. For inputs of
// 64 pixels or less the stem and the second stage keep stride 1 (the usual CIFAR form).
// ModelOptions::activation other than relu replaces every ReLU6 by the power-of-two activation.
// Named as torchvision's: features.0.0 (stem conv), features.N.conv.K... (blocks), features.18,
// avgpool, classifier.1 (the linear layer).
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model_options.h"

namespace lowbit {

class InvertedResidual : public Module {
 public:
  InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expansion,
                   const ActivationSpec& activation, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "InvertedResidual"; }
  // Whether the block adds its input to the body's output (stride 1 and as many channels out as
  // in).
  bool residual() const { return residual_; }

 private:
  bool residual_;  // the child "conv" is called by name
};

std::shared_ptr<Module> make_mobilenet_v2(const ModelOptions& options, Rng& rng);

}  // namespace lowbit
