// ModelOptions: what a data set decides about a model (input channels, image side,
// class count), the width multiplier of MobileNet-v2, and the activation every model uses
// (float ReLU, or the power-of-two activation of Long et al. 2020, eq. 2-7).
#pragma once

#include <cstdint>

#include "layers/quant/pow2_activation.h"

namespace lowbit {

// The activation placed wherever a model has its float activation (after BN, as the paper).
//   kRelu:     ReLU (ReLU6 in MobileNet-v2): the models as published.
//   kPow2:     the signed power-of-two activation, levels 0, ±q2, ..., ±2^(bits-2) q2.
//   kReluPow2: ReLU then the same levels for x >= 0 only (the unsigned variant).
struct ActivationSpec {
  enum class Kind { kRelu, kPow2, kReluPow2 } kind = Kind::kRelu;
  int bits = 3;
  float q2 = 0.125f;
  Pow2Backward backward = Pow2Backward::kEq7;  // the quantized activations' backward proxy
  Pow2Scale scale = Pow2Scale::kFixed;         // fixed levels, or levels times a trained factor
  // Where a residual block puts the activation that ends it:
  //   kAfterSum:    after the addition, as the published ResNets place their ReLU and the paper
  //                 its activation ("in place of the float activation"). The stream that the
  //                 shortcuts carry from block to block then holds activation levels: with 3
  //                 signed bits and q2 = 1/8, seven values within +-0.5.
  //   kBranchInput: at the start of the branch instead, the sum passed on as it is (Bi-Real Net's
  //                 real-valued shortcut, Liu et al. 2018). Every convolution, a projection
  //                 shortcut's included, still reads activation levels; the additions carry the
  //                 wider values that the levels would cut.
  enum class Residual { kAfterSum, kBranchInput } residual = Residual::kAfterSum;
};

struct ModelOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t image_size = 32;  // square input side
  float width_multiplier = 1.0f;
  ActivationSpec activation;
};

}  // namespace lowbit
