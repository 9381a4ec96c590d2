// VGG with batch norm for 32x32 inputs: vgg7 (the "VGG-small" of low-bit papers:
// 2x128C3-MP-2x256C3-MP-2x512C3-MP-FC1024-FC), vgg11 and vgg16 (Simonyan and Zisserman's
// configurations A and D with one linear classifier, as is usual on CIFAR). Named as torchvision's
// VGG: features.N (convolutions, BN, activations, pooling), flatten, classifier.N (linear layers).
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/sequential.h"
#include "models/model_options.h"

namespace lowbit {

std::shared_ptr<Sequential> make_vgg7(const ModelOptions& options, Rng& rng);
std::shared_ptr<Sequential> make_vgg11(const ModelOptions& options, Rng& rng);
std::shared_ptr<Sequential> make_vgg16(const ModelOptions& options, Rng& rng);

}  // namespace lowbit
