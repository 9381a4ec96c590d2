// The integer GEMMs of the runtime: acc[p][o] = sum_k rows[p][k] w[o][k], exact in int32, with
// the weights packed once per layer in the order each kernel reads them.
//   vnni:     uint8 rows x int8 weights, AVX-512 VNNI vpdpbusd (64 multiply-adds an instruction);
//   avx2:     int16 rows x int16 weights, AVX2 vpmaddwd (any code of up to 16 bits);
//   portable: int16 x int16 in plain C++ (any CPU; the reference the tests hold the others to);
//   shift:    power-of-two weights by shifts and adds (core/runtime/shift_gemm.h), on the layers
//             whose codes are all 0 or +-2^e; the others run on avx2 (or portable).
// Which one runs is decided at run time from the CPU (cpu_supports), not at build time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::runtime {

enum class GemmKernel { kPortable, kAvx2, kVnni, kShift };

std::string kernel_name(GemmKernel kernel);
// Whether this CPU runs `kernel` (portable: always).
bool cpu_supports(GemmKernel kernel);
// The fastest kernel this CPU runs; LOWBIT_RUNTIME_KERNEL=vnni|avx2|portable|shift picks one
// instead (an unknown or unsupported name: lowbit::Error naming it).
GemmKernel best_kernel();

// Output channels per packed block: 16 int32 lanes of a zmm (vnni, shift), 8 of a ymm (avx2), 1.
int64_t channel_block(GemmKernel kernel);
// Depth padded to what the kernel consumes at once: 4 bytes (vnni), 2 int16 (avx2), 1.
int64_t depth_step(GemmKernel kernel);

// Weights w (out, depth) as the kernel reads them, zero-padded to whole channel blocks and depth
// steps. vnni: [block][depth/4][16][4] int8; avx2: [block][depth/2][8][2] int16; portable:
// (out, depth) int16; shift: exponents and sign masks (shift_gemm.h). vnni needs every code in
// -128..127, shift every code 0 or +-2^e.
struct PackedWeights {
  GemmKernel kernel = GemmKernel::kPortable;
  int64_t out = 0, depth = 0, padded_out = 0, padded_depth = 0;
  std::vector<int8_t> bytes;          // vnni
  std::vector<int16_t> words;         // avx2, portable
  std::vector<int32_t> shifts;        // shift: [block][depth][16] exponents
  std::vector<uint16_t> plus, minus;  // shift: [block][depth] masks of +2^e and -2^e channels
};
PackedWeights pack_weights(GemmKernel kernel, const int16_t* w, int64_t out, int64_t depth);

// acc (positions, packed.padded_out) row-major. rows: (positions, packed.padded_depth), uint8 for
// vnni, int16 otherwise; the padding columns may hold anything (their weights are 0). gemm_i16 also
// runs shift-packed weights.
void gemm_u8s8(const uint8_t* rows, int64_t positions, const PackedWeights& packed, int32_t* acc);
// The same product with the rows read in place, without an im2col copy: position p's depth is
// `taps` runs of padded_depth / taps bytes (a multiple of 4), run t at rows + p row_stride +
// tap_offsets[t]. A stride-1 convolution over a padded (H, W, C) image is one: row_stride C, and
// a tap (ky, kx) at (ky W + kx) C.
void gemm_u8s8_taps(const uint8_t* rows, int64_t positions, int64_t row_stride,
                    const int64_t* tap_offsets, int64_t taps, const PackedWeights& packed,
                    int32_t* acc);
void gemm_i16(const int16_t* rows, int64_t positions, const PackedWeights& packed, int32_t* acc);

}  // namespace lowbit::runtime
