// Stochastic gradient descent exactly as torch.optim.SGD:
//   g = grad + wd * p;  b = g (first step) or mu * b + (1 - dampening) * g;
//   update = g + mu * b (Nesterov) or b (momentum) or g;  p -= lr * update.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace lowbit {

struct SgdOptions {
  float lr = 0.1f;
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Parameter> params, SgdOptions options);
  void step() override;
  void reset_state() override;
  std::string type_name() const override { return "Sgd"; }
  std::vector<NamedTensor> state() const override;
  void load_state(const std::vector<NamedTensor>& state) override;

  // The update Sgd would subtract from each element of parameter k this step (lr * update),
  // advancing the momentum buffer: for optimizers such as DST that turn a proposed step into
  // something other than a float subtraction.
  void propose_step(size_t k, float* delta);

 private:
  SgdOptions options_;
  std::vector<Tensor> velocity_;  // momentum buffers, aligned with params_
  std::vector<bool> started_;     // whether each buffer has been initialized
  std::vector<float> delta_;      // step() scratch, reused across steps and parameters
};

}  // namespace lowbit
