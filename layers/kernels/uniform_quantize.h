// Uniform quantization with thresholds (Goncharenko et al., "Fast Adjustable Threshold"):
// the symmetric grid of eq. 1-9 and 13-15, the asymmetric grid of eq. 21-23, the straight-through
// backward of eq. 16-19, and int32 bias codes (eq. 20). Pure kernels over float*.
//   x, y, dy, dx: (outer, channels, inner), one threshold (or range) per channel.
#pragma once

#include <cstdint>

namespace lowbit::kernels {

// The integer codes of a grid: k in [low, high] (integers held as float).
struct CodeRange {
  float low, high;
};

// Symmetric grid. Signed: codes -(2^(n-1) - 1) .. 2^(n-1) - 1 (eq. 4, 8); unsigned: 0 .. 2^n - 1
// (eq. 9). The threshold T maps to the largest code, so S = high / T and y = k * (T / high).
CodeRange symmetric_codes(int bits, bool is_signed);

// Per channel c with threshold T_c (already adjusted, eq. 13): S = high / T_c,
//   y = clip(round(x * S), low, high) * (T_c / high).
// round is to nearest, ties to even. A channel with T_c = 0 maps everything to 0.
void symmetric_quantize_forward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                const float* threshold, CodeRange codes, float* y);

// The backward with d round(u)/du = 1 (eq. 17) and d clip(k)/dk = 1 for k in [low, high] (eq. 19).
// With u = x S and k = clip(round(u)), y = k T / high, the chain rule gives
//   k not clipped:  dy/dx = 1,  dy/dT = (k - u) / high      (= (y - x) / T)
//   k clipped:      dy/dx = 0,  dy/dT = k / high            (= y / T)
// dx += dy * dy/dx (dx may be null); dthreshold[c] += sum over the channel of dy * dy/dT,
// summed per block of at most 4096 values in float lanes, then over blocks in double, in a fixed
// order (the result does not depend on the thread count).
void symmetric_quantize_backward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                 const float* threshold, CodeRange codes, const float* dy,
                                 float* dx, float* dthreshold);

// Asymmetric grid of 2^n codes per channel, from its (adjusted) left limit L_c and width W_c
// (eq. 22-23): S = (2^n - 1) / W, an integer zero point z = round(L S), and
//   y = (clip(round(x S) - z, 0, 2^n - 1) + z) / S      (codes k = z .. z + 2^n - 1, y = k W / (2^n
//   - 1)).
// Rounding z keeps every output on the integer grid and lets integer inference use it as the
// zero point. A channel with W_c = 0 maps everything to 0.
void asymmetric_quantize_forward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                 const float* left, const float* width, int bits, float* y);

// Backward with round' = 1 (on round(x S) and on the zero point round(L S)) and clip' of eq. 19.
// With N = 2^n - 1, u = x S, v = L S and m = round(u) - z:
//   m in [0, N] (not clipped):  dy/dx = 1,  dy/dL = 0,  dy/dW = (k - u) / N   (= (y - x) / W)
//   m clipped:                  dy/dx = 0,  dy/dL = 1,  dy/dW = (k - v) / N   (= (y - L) / W)
// dx may be null; dleft, dwidth: (channels), summed as above.
void asymmetric_quantize_backward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                  const float* left, const float* width, int bits, const float* dy,
                                  float* dx, float* dleft, float* dwidth);

// Eq. 20: b_q[c] = clip(round(S_in * S_w[c] * b[c]), -(2^31 - 1), 2^31 - 1), computed in double.
// weight_scale has one value per channel, or one for all when weight_scale_count == 1.
void quantize_bias_int32(int64_t channels, const float* bias, double input_scale,
                         const float* weight_scale, int64_t weight_scale_count, int32_t* out);

}  // namespace lowbit::kernels
