// The shift-add kernel for power-of-two weights (Long et al. 2020: a product with w = +-2^e is the
// activation code shifted by e, with w's sign): acc[p][o] = sum_k sign[o][k] (x[p][k] << e[o][k]),
// exact in int32, no multiplier. AVX-512 (vpsllvd and masked adds and subtracts, 16 output channels
// at once) when the CPU has it, else plain C++ over the same packed weights.
#pragma once

#include <cstdint>

#include "core/runtime/int_gemm.h"

namespace lowbit::runtime {

// Whether every code of w[0, n) is 0 or +-2^e with e in 0..14: weights the shift kernel runs.
bool shift_codes(const int16_t* w, int64_t n);

// Fills packed.shifts, plus and minus for weights w (out, depth) of shift codes: per block of 16
// output channels and depth index k, the 16 exponents e (int32, 0 for a zero weight) and two
// masks of the channels whose weight is +2^e and -2^e (neither: 0).
void pack_shift_weights(const int16_t* w, int64_t out, int64_t depth, PackedWeights& packed);

// acc (positions, packed.padded_out): rows (positions, packed.padded_depth) of int16 codes.
void gemm_shift(const int16_t* rows, int64_t positions, const PackedWeights& packed, int32_t* acc);
// The same in plain C++ (what gemm_shift runs without AVX-512; the tests hold the vector path to
// it).
void gemm_shift_portable(const int16_t* rows, int64_t positions, const PackedWeights& packed,
                         int32_t* acc);

}  // namespace lowbit::runtime
