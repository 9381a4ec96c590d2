// Pooling over (N, C, H, W): max, average, and global average to (N, C).
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace lowbit {

// Padding counts as -infinity; the backward routes dy to the first maximum of each window.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
// Padding counts as zeros in the average (count_include_pad = true, PyTorch's default).
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor global_avg_pool(const Tensor& x);

// A 2-D pooling module: which pooling (max_pool2d or avg_pool2d) and its window, kernel, stride
// (0 means the kernel size) and padding.
class Pool2d : public Module {
 public:
  using Pooling = Tensor (*)(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
  Tensor forward(const Tensor& x) override { return pooling_(x, kernel_, stride_, padding_); }
  std::string type_name() const override { return type_; }
  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_ > 0 ? stride_ : kernel_; }
  int64_t padding() const { return padding_; }

 protected:
  Pool2d(const char* type, Pooling pooling, int64_t kernel, int64_t stride, int64_t padding)
      : type_(type), pooling_(pooling), kernel_(kernel), stride_(stride), padding_(padding) {}

 private:
  const char* type_;
  Pooling pooling_;
  int64_t kernel_, stride_, padding_;
};

class MaxPool2d : public Pool2d {
 public:
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : Pool2d("MaxPool2d", max_pool2d, kernel, stride, padding) {}
};

class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : Pool2d("AvgPool2d", avg_pool2d, kernel, stride, padding) {}
};

class GlobalAvgPool : public Module {
 public:
  Tensor forward(const Tensor& x) override { return global_avg_pool(x); }
  std::string type_name() const override { return "GlobalAvgPool"; }
};

}  // namespace lowbit
