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

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : kernel_(kernel), stride_(stride), padding_(padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel_, stride_, padding_); }
  std::string type_name() const override { return "MaxPool2d"; }
  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_ > 0 ? stride_ : kernel_; }  // 0 means the kernel size
  int64_t padding() const { return padding_; }

 private:
  int64_t kernel_, stride_, padding_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : kernel_(kernel), stride_(stride), padding_(padding) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel_, stride_, padding_); }
  std::string type_name() const override { return "AvgPool2d"; }
  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_ > 0 ? stride_ : kernel_; }  // 0 means the kernel size
  int64_t padding() const { return padding_; }

 private:
  int64_t kernel_, stride_, padding_;
};

class GlobalAvgPool : public Module {
 public:
  Tensor forward(const Tensor& x) override { return global_avg_pool(x); }
  std::string type_name() const override { return "GlobalAvgPool"; }
};

}  // namespace lowbit
