// Inverted dropout: in training each element is kept with probability 1 - p and scaled by
// 1/(1 - p); identity in evaluation. The mask is counter_uniform(key, i) with one key drawn
// from the generator per call, so it is the same for any thread count.
#pragma once

#include "core/rng.h"
#include "layers/module.h"

namespace lowbit {

Tensor dropout(const Tensor& x, float p, bool training, Rng& rng);

class Dropout : public Module {
 public:
  explicit Dropout(float p);
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training(), global_rng()); }
  std::string type_name() const override { return "Dropout"; }

 private:
  float p_;
};

}  // namespace lowbit
