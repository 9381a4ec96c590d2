// The parameter-free "option A" shortcut of He et al. (2016) for CIFAR ResNets: the input
// subsampled by `stride` with its channels zero-padded to `out_channels`.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace lowbit {

// x: (N, C, H, W) -> (N, out_channels, ceil(H/stride), ceil(W/stride));
// y[n, c, i, j] = x[n, c, i*stride, j*stride] for c < C, 0 for c >= C.
Tensor pad_channels_subsample(const Tensor& x, int64_t out_channels, int64_t stride);

class PadChannelsShortcut : public Module {
 public:
  PadChannelsShortcut(int64_t out_channels, int64_t stride)
      : out_channels_(out_channels), stride_(stride) {}
  Tensor forward(const Tensor& x) override {
    return pad_channels_subsample(x, out_channels_, stride_);
  }
  std::string type_name() const override { return "PadChannelsShortcut"; }
  int64_t out_channels() const { return out_channels_; }
  int64_t stride() const { return stride_; }

 private:
  int64_t out_channels_, stride_;
};

}  // namespace lowbit
