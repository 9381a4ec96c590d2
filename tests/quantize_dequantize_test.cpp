// QuantizeDequantize: ONNX's QuantizeLinear + DequantizeLinear formula with exact values (halves to
// even, clamping at the code type's range), and the clipped straight-through gradient.
#include "layers/quant/quantize_dequantize.h"

#include <catch2/catch.hpp>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/reduce.h"

using namespace lowbit;

TEST_CASE("QuantizeDequantize computes ONNX's QDQ values exactly", "[quant][onnx]") {
  // scale 0.5, zero point 3, uint8: q = clamp(rint(2x) + 3, 0, 255), y = (q - 3) / 2.
  QuantizeDequantize qdq(0.5f, 3, 0, 255);
  const Tensor x = Tensor::from_vector({6}, {1.25f, 1.75f, -10.0f, 200.0f, 0.2f, -1.5f});
  // 2.5 rounds to 2 and 3.5 to 4 (halves to even); -20 + 3 clamps at 0; 403 clamps at 255.
  CHECK(qdq(x).to_vector() == std::vector<float>{1.0f, 2.0f, -1.5f, 126.0f, 0.0f, -1.5f});

  QuantizeDequantize signed_codes(0.25f, 0, -128, 127);
  CHECK(signed_codes(Tensor::from_vector({3}, {-40.0f, 0.375f, 31.8f})).to_vector() ==
        std::vector<float>{-32.0f, 0.5f, 31.75f});
}

TEST_CASE("QuantizeDequantize passes the gradient where the code is not clamped", "[quant][onnx]") {
  QuantizeDequantize qdq(0.5f, 3, 0, 255);
  Tensor x = Tensor::from_vector({4}, {1.25f, -10.0f, 200.0f, -1.5f});
  x.set_requires_grad(true);
  backward(sum(qdq(x)));
  // -1.5 gives code 0 exactly (inside); -10 and 200 are clamped.
  const float* g = x.grad();
  CHECK(std::vector<float>(g, g + 4) == std::vector<float>{1.0f, 0.0f, 0.0f, 1.0f});
}

TEST_CASE("QuantizeDequantize refuses a bad scale or zero point", "[quant][onnx]") {
  CHECK_THROWS_WITH(QuantizeDequantize(0.0f, 0, 0, 255), Catch::Contains("scale 0"));
  CHECK_THROWS_WITH(QuantizeDequantize(1.0f, 300, 0, 255), Catch::Contains("zero point 300"));
}
