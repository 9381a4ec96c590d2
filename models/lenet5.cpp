// LeNet-5 builder.
#include "models/lenet5.h"

#include "core/check.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "models/activation_choice.h"

namespace lowbit {

std::shared_ptr<Sequential> make_lenet5(const ModelOptions& o, Rng& rng) {
  LOWBIT_CHECK(o.image_size == 28 || o.image_size == 32, "lenet5: input side ", o.image_size,
               " is not supported; expected 28 or 32");
  const int64_t pad = (32 - o.image_size) / 2;
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(o.in_channels, 6, 5, Conv2dOptions{1, pad, 1}, true, rng))
      .add(make_activation(o.activation))
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Conv2d>(6, 16, 5, Conv2dOptions{1, 0, 1}, true, rng))
      .add(make_activation(o.activation))
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Linear>(16 * 5 * 5, 120, true, rng))
      .add(make_activation(o.activation))
      .add(std::make_shared<Linear>(120, 84, true, rng))
      .add(make_activation(o.activation))
      .add(std::make_shared<Linear>(84, o.num_classes, true, rng));
  return net;
}

}  // namespace lowbit
