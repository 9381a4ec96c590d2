// Float activations, each "a forward value and its slope" through custom_gradient:
//   relu: max(0, x), slope [x > 0];  relu6: min(max(0, x), 6), slope [0 < x < 6];
//   hardtanh: clip(x, lo, hi), slope [lo < x < hi] (the clipped STE's proxy).
#pragma once

#include "layers/module.h"

namespace lowbit {

Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);
Tensor hardtanh(const Tensor& x, float min_value = -1.0f, float max_value = 1.0f);

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

class ReLU6 : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu6(x); }
  std::string type_name() const override { return "ReLU6"; }
};

class Hardtanh : public Module {
 public:
  Hardtanh(float min_value = -1.0f, float max_value = 1.0f);
  Tensor forward(const Tensor& x) override { return hardtanh(x, min_, max_); }
  std::string type_name() const override { return "Hardtanh"; }
  float min_value() const { return min_; }
  float max_value() const { return max_; }

 private:
  float min_, max_;
};

}  // namespace lowbit
