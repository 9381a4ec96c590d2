// Option-A shortcut: strided copy into the first C channels; backward scatters dy back.
#include "layers/shortcut.h"

#include "core/autograd.h"
#include "core/check.h"

namespace lowbit {

Tensor pad_channels_subsample(const Tensor& x, int64_t out_channels, int64_t stride) {
  LOWBIT_CHECK(x.rank() == 4, "pad_channels_subsample: input shape ", x.shape().str(),
               " should be (N, C, H, W)");
  LOWBIT_CHECK(stride >= 1, "pad_channels_subsample: stride ", stride, " must be >= 1");
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  LOWBIT_CHECK(out_channels >= c, "pad_channels_subsample: out_channels ", out_channels,
               " is smaller than the input's ", c);
  const int64_t ho = (h + stride - 1) / stride, wo = (w + stride - 1) / stride;
  Tensor y = Tensor::zeros({n, out_channels, ho, wo});
  const float* px = x.data();
  float* py = y.data();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j)
          py[((b * out_channels + ch) * ho + i) * wo + j] =
              px[((b * c + ch) * h + i * stride) * w + j * stride];
  record(y, "pad_channels_subsample", {x}, [x, out_channels, stride, ho, wo](const Tensor& out) {
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const float* dy = out.grad();
    float* dx = x.grad();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < ho; ++i)
          for (int64_t j = 0; j < wo; ++j)
            dx[((b * c + ch) * h + i * stride) * w + j * stride] +=
                dy[((b * out_channels + ch) * ho + i) * wo + j];
  });
  return y;
}

}  // namespace lowbit
