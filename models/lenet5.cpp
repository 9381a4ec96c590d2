// LeNet-5 builder, with BN before each quantized activation.
#include "models/lenet5.h"

#include <string>

#include "core/check.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "models/activation_choice.h"

namespace lowbit {

// Why BN only with a quantized activation:
// - The power-of-two activation has fixed levels 0, ±q2, ..., ±2^(n-2) q2 (q2 = 0.125, n = 3: top
//   level 0.25) chosen by eq. 6 for a standard normal input; the paper gets that input "following
//   Cai's implementation" by batch-normalizing the dot product (section 3.2.1), and its quantized
//   blocks are conv-BN-activation. Without BN, LeNet-5's pre-activations have no controlled scale
//   (and grid weights, scaled to use the grid, change it by large per-layer factors), so most of
//   them land in the dead zone or the saturated top level and the network stays at chance.
// - BN also makes every hidden layer invariant to its weight scale, which is what lets DST's grid
//   initialization (GridInit::kFittedScale) rescale each weight tensor for free.
// - With ReLU the model stays the published one without BN, so that the float baseline is the
//   classic LeNet-5 that published error rates refer to.
// The order within a block is conv-BN-activation-pool: pooling after the quantizer keeps the
// pooled values on the activation's levels (max of levels is a level).
std::shared_ptr<Sequential> make_lenet5(const ModelOptions& o, Rng& rng) {
  LOWBIT_CHECK(o.image_size == 28 || o.image_size == 32, "lenet5: input side ", o.image_size,
               " is not supported; expected 28 or 32");
  const int64_t pad = (32 - o.image_size) / 2;
  const bool normalized = o.activation.kind != ActivationSpec::Kind::kRelu;
  auto net = std::make_shared<Sequential>();
  // A hidden layer's bias is redundant before BN (the batch mean removes it): leave it out there.
  const bool bias = !normalized;
  // Layer k's BN and activation are "bn<k>" and "relu<k>" (PyTorch's names, also for the
  // power-of-two activation), so that conv1, conv2, fc1..fc3 are named alike with or without BN.
  auto block_end = [&](int k, int64_t channels) {
    if (normalized) net->add("bn" + std::to_string(k), std::make_shared<BatchNorm>(channels));
    net->add("relu" + std::to_string(k), make_activation(o.activation));
  };
  net->add("conv1",
           std::make_shared<Conv2d>(o.in_channels, 6, 5, Conv2dOptions{1, pad, 1}, bias, rng));
  block_end(1, 6);
  net->add("pool1", std::make_shared<MaxPool2d>(2));
  net->add("conv2", std::make_shared<Conv2d>(6, 16, 5, Conv2dOptions{1, 0, 1}, bias, rng));
  block_end(2, 16);
  net->add("pool2", std::make_shared<MaxPool2d>(2)).add("flatten", std::make_shared<Flatten>());
  net->add("fc1", std::make_shared<Linear>(16 * 5 * 5, 120, bias, rng));
  block_end(3, 120);
  net->add("fc2", std::make_shared<Linear>(120, 84, bias, rng));
  block_end(4, 84);
  net->add("fc3", std::make_shared<Linear>(84, o.num_classes, true, rng));
  return net;
}

}  // namespace lowbit
