// LeNet-5 (LeCun et al. 1998) in its common modern form: conv6-pool-conv16-pool-fc120-fc84-fc; with
// a quantized activation, each hidden layer gains batch normalization before it (the
// conv-BN-activation block of Long et al. 2020, whose eq. 2-7 assume a unit-Gaussian input).
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/sequential.h"
#include "models/model_options.h"

namespace lowbit {

// 5x5 convolutions and 2x2 max pooling; a 28x28 input is padded by 2 in the first convolution so
// that the second pooling ends at 5x5 as with the original 32x32.
//   activation kRelu (the published model, no BN):
//     conv-relu-pool, conv-relu-pool, flatten, fc-relu, fc-relu, fc   (every layer with a bias)
//   activation kPow2 / kReluPow2:
//     conv-BN-q-pool, conv-BN-q-pool, flatten, fc-BN-q, fc-BN-q, fc   (no bias before a BN: the BN
//     shift replaces it; the last layer keeps its bias)
// The layers are named as PyTorch's LeNet-5 tutorials name them: conv1, pool1, conv2, pool2,
// flatten, fc1, fc2, fc3, with bn<k> and relu<k> after layer k (relu<k> is the quantized activation
// too).
std::shared_ptr<Sequential> make_lenet5(const ModelOptions& options, Rng& rng);

}  // namespace lowbit
