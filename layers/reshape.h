// Reshape and flatten: new shapes over the same storage (no copy), and the Reshape module.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"

namespace lowbit {

// One dimension may be -1 and is inferred from the element count.
Tensor reshape(const Tensor& x, std::vector<int64_t> dims);
// (N, d1, d2, ...) -> (N, d1 * d2 * ...).
Tensor flatten(const Tensor& x);

// Reshape to `dims` as ONNX's Reshape reads them (allowzero = 0): a 0 keeps the input's size in
// that dimension, one -1 is inferred. An imported graph's Reshape nodes become this module.
class Reshape : public Module {
 public:
  explicit Reshape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Reshape"; }
  const std::vector<int64_t>& dims() const { return dims_; }

 private:
  std::vector<int64_t> dims_;
};

}  // namespace lowbit
