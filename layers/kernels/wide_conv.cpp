// The wide-product convolution: codes once per input, then exact int64 sums per output position.
#include "layers/kernels/wide_conv.h"

#include <vector>

#include "core/runtime/program.h"
#include "core/runtime/thresholds.h"

namespace lowbit::kernels {

void conv2d_forward_wide(const ConvGeometry& g, const float* x, const float* weight,
                         const float* bias, float* y) {
  const int64_t cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  const int64_t depth = cg * g.kernel_h * g.kernel_w, plane = g.height * g.width;
  const int64_t ho = g.out_height(), wo = g.out_width();
  const int64_t in_size = g.in_channels * plane, out_size = g.out_channels * ho * wo;
  std::vector<int32_t> codes(static_cast<size_t>(g.batch * in_size));
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = runtime::wide_input_code(x[i]);
  // Per output channel: its weight codes and the value of one accumulator unit, step_w 2^-22 (as
  // the compiler's thresholds read it, models/transforms/integer_model.cpp).
  std::vector<int32_t> w(static_cast<size_t>(g.out_channels * depth));
  std::vector<double> unit(static_cast<size_t>(g.out_channels));
  const double one = static_cast<double>(int64_t{1} << runtime::kFractionBits);
  for (int64_t o = 0; o < g.out_channels; ++o) {
    const double step = runtime::wide_weight_step(weight + o * depth, depth);
    for (int64_t j = 0; j < depth; ++j)
      w[static_cast<size_t>(o * depth + j)] =
          runtime::wide_weight_code(weight[o * depth + j], step);
    unit[static_cast<size_t>(o)] = step / one;
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o) {
      const int32_t* image = codes.data() + n * in_size + (o / og) * cg * plane;
      const int32_t* k = w.data() + o * depth;
      float* out = y + n * out_size + o * ho * wo;
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          int64_t acc = 0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
              const int64_t iy = oy * g.stride - g.padding + ky;
              if (iy < 0 || iy >= g.height) continue;
              for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
                const int64_t ix = ox * g.stride - g.padding + kx;
                if (ix < 0 || ix >= g.width) continue;  // padding reads 0
                acc += int64_t{image[c * plane + iy * g.width + ix]} *
                       k[(c * g.kernel_h + ky) * g.kernel_w + kx];
              }
            }
          // The same expression as threshold folding's candidate accumulators
          // (models/transforms/threshold_folding.cpp): one rounding, double to float.
          float v = static_cast<float>(static_cast<double>(acc) * unit[static_cast<size_t>(o)]);
          if (bias) v += bias[o];
          out[oy * wo + ox] = v;
        }
    }
}

}  // namespace lowbit::kernels
