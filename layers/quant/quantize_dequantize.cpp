// QuantizeLinear + DequantizeLinear: the ONNX formula per element, with a clipped STE.
#include "layers/quant/quantize_dequantize.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/custom_gradient.h"

namespace lowbit {

QuantizeDequantize::QuantizeDequantize(float scale, int64_t zero_point, int64_t low, int64_t high)
    : scale_(scale), zero_point_(zero_point), low_(low), high_(high) {
  LOWBIT_CHECK(std::isfinite(scale) && scale > 0, "QuantizeDequantize: scale ", scale,
               "; expected a positive finite number");
  LOWBIT_CHECK(low < high && zero_point >= low && zero_point <= high,
               "QuantizeDequantize: zero point ", zero_point, " with codes ", low, "..", high,
               "; expected the zero point among the codes");
}

Tensor QuantizeDequantize::forward(const Tensor& x) {
  const float scale = scale_, zero = static_cast<float>(zero_point_);
  const float low = static_cast<float>(low_), high = static_cast<float>(high_);
  return gated_gradient(
      x, "quantize_dequantize",
      [=](float v) {
        return (std::min(std::max(std::rint(v / scale) + zero, low), high) - zero) * scale;
      },
      [=](float v) {
        const float q = std::rint(v / scale) + zero;
        return q >= low && q <= high;
      });
}

}  // namespace lowbit
