// Adam (Kingma and Ba 2015) exactly as torch.optim.Adam, and AdamW's decoupled weight decay:
//   L2:        g = grad + wd * p
//   decoupled: p *= 1 - lr * wd  (before the Adam step)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  t += 1
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace lowbit {

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled_weight_decay = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Parameter> params, AdamOptions options);
  void step() override;
  void reset_state() override;
  std::string type_name() const override { return "Adam"; }
  std::vector<NamedTensor> state() const override;
  void load_state(const std::vector<NamedTensor>& state) override;

  // The update Adam would subtract from each element of parameter k this step
  // (lr * mhat / (sqrt(vhat) + eps)), advancing the moments: for optimizers such as DST
  // that turn a proposed step into something other than a float subtraction.
  void propose_step(size_t k, float* delta);

 private:
  AdamOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  std::vector<int64_t> steps_;
  std::vector<float> delta_;  // step() scratch, reused across steps and parameters
};

}  // namespace lowbit
