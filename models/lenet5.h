// LeNet-5 (LeCun et al. 1998) in its common modern form: conv6-pool-conv16-pool-fc120-fc84-fc.
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/sequential.h"
#include "models/model_options.h"

namespace lowbit {

// 5x5 convolutions with ReLU (or options.activation) and 2x2 max pooling; a 28x28 input is padded by 2 in the
// first convolution so that the second pooling ends at 5x5 as with the original 32x32.
std::shared_ptr<Sequential> make_lenet5(const ModelOptions& options, Rng& rng);

}  // namespace lowbit
