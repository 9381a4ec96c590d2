// Data-free post-training quantization of a weight tensor (Nayak, Zhang and Chai, "Bit
// Efficient Quantization for Deep Neural Networks", section III.a): uniform asymmetric,
// uniform symmetric and power-of-two grids fitted to the values alone, per tensor or per channel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/quant/uniform_quantizer.h"

namespace lowbit {

// asym:      x_q = round((x - min) / step), step = (max - min) / (2^n - 1), value = min + x_q step
// sym:       x_q = round(x / step),         step = max|x| / (2^(n-1) - 1),   value = x_q step
// pow2:      value = sign(x) 2^round(log2|x|) with the exponent range n bits allow (below)
// pow2-free: the same without a bit budget: the exponents the values have (the paper's Table 1
//            row, whose bit width is an outcome: "average bit-levels")
enum class PtqScheme { kAsymmetric, kSymmetric, kPow2, kPow2Free };

constexpr int kPtqMinBits = 2;
constexpr int kPtqMaxBits = 16;  // codes are stored as uint16

const char* ptq_scheme_name(PtqScheme scheme);  // "asym", "sym", "pow2", "pow2-free"
// Granularity (layers/quant/uniform_quantizer.h) by the sweep's names: kScalar is "tensor" (one
// grid for the tensor), kVector "channel" (one grid per output channel, dim 0).
const char* ptq_granularity_name(Granularity granularity);
// Parses those names; anything else: lowbit::Error listing the known names.
PtqScheme parse_ptq_scheme(const std::string& name);
Granularity parse_ptq_granularity(const std::string& name);

struct PtqSpec {
  PtqScheme scheme = PtqScheme::kSymmetric;
  int bits = 8;  // kPtqMinBits..kPtqMaxBits; ignored (and reported as 0) by pow2-free
  Granularity granularity = Granularity::kScalar;
};
// Throws lowbit::Error naming the bad bit width and the range expected.
void validate(const PtqSpec& spec);
// "sym-3", "pow2-free".
std::string ptq_spec_label(const PtqSpec& spec);
// The inverse of ptq_spec_label at `granularity`: "sym-3" or "pow2-free". Anything else, or a bit
// width out of range: lowbit::Error naming the label.
PtqSpec parse_ptq_spec_label(const std::string& label, Granularity granularity);

// The grid one channel (or tensor) was quantized to, fitted from its own values. A code is
// an integer in [0, 2^bits); ptq_value(code, grid) is the value it stands for.
struct PtqGrid {
  PtqScheme scheme = PtqScheme::kSymmetric;
  int bits = 0;       // bits per code (pow2-free: what the exponent range needs)
  double offset = 0;  // asym: the minimum (code 0)
  double step = 0;    // asym, sym: the spacing of the levels (0 for a constant channel)
  int min_exp = 0;    // pow2: codes 1..K are +2^(min_exp + c - 1), K+1..2K their negatives,
  int max_exp = 0;    //       0 is zero, K = max_exp - min_exp + 1 (K = 0: only zero)
};

// The number of values the grid can represent (asym 2^n, sym 2^n - 1, pow2 2K + 1).
int64_t ptq_levels(const PtqGrid& grid);
// round(log2 a) for a finite a > 0, exact: the rounding boundary is 2^(k + 1/2).
int round_log2(float a);

// Fits the grid of `scheme` at `bits` to x[0..n) (pow2-free ignores bits). Non-finite values:
// lowbit::Error with the index.
PtqGrid fit_ptq_grid(const float* x, int64_t n, PtqScheme scheme, int bits);
uint16_t ptq_code(float x, const PtqGrid& grid);
float ptq_value(uint16_t code, const PtqGrid& grid);

// x, y: (channels, per_channel), y may be x; codes: (channels, per_channel) or null.
// Fits one grid per channel and writes each value's quantized value (and code). Returns the grids.
std::vector<PtqGrid> ptq_quantize(const float* x, int64_t channels, int64_t per_channel,
                                  PtqScheme scheme, int bits, float* y, uint16_t* codes);

}  // namespace lowbit
