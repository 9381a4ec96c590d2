// ONNX's QuantizeLinear followed by DequantizeLinear on an activation, one scale per tensor: the
// form an imported QDQ model's activation quantizers take (models/onnx/onnx_import.cpp).
//   q = clamp(rint(x / scale) + zero_point, low, high),   y = (q - zero_point) * scale
// with rint rounding halves to even (ONNX's rounding) and [low, high] the code type's range (int8
// -128..127, uint8 0..255). Backward: the clipped straight-through estimator, dy/dx = 1 where the
// code is not clamped, 0 where it is.
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.h"

namespace lowbit {

class QuantizeDequantize : public Module {
 public:
  // Throws lowbit::Error for a scale that is not positive and finite, or a zero point outside
  // [low, high].
  QuantizeDequantize(float scale, int64_t zero_point, int64_t low, int64_t high);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantizeDequantize"; }
  float scale() const { return scale_; }
  int64_t zero_point() const { return zero_point_; }
  int64_t low() const { return low_; }
  int64_t high() const { return high_; }

 private:
  float scale_;
  int64_t zero_point_, low_, high_;
};

}  // namespace lowbit
