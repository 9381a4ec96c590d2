#include "core/runtime/shift_gemm.h"

#include <algorithm>

#include "core/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOWBIT_SHIFT_X86 1
#else
#define LOWBIT_SHIFT_X86 0
#endif

namespace lowbit::runtime {

namespace {

constexpr int64_t kLanes = 16;  // output channels per block: the int32 lanes of a zmm

// e with |c| = 2^e, for a code c = +-2^e (c != 0).
int exponent_of(int16_t c) {
  int e = 0;
  while ((1 << e) < std::abs(int{c})) ++e;
  return e;
}

}  // namespace

bool shift_codes(const int16_t* w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int a = std::abs(int{w[i]});
    if (a != 0 && ((a & (a - 1)) != 0 || a > (1 << 14))) return false;
  }
  return true;
}

void pack_shift_weights(const int16_t* w, int64_t out, int64_t depth, PackedWeights& p) {
  LOWBIT_CHECK(shift_codes(w, out * depth),
               "pack_shift_weights: codes other than 0 and +-2^e (e <= 14)");
  const int64_t blocks = p.padded_out / kLanes;
  p.shifts.assign(static_cast<size_t>(blocks * depth * kLanes), 0);
  p.plus.assign(static_cast<size_t>(blocks * depth), 0);
  p.minus.assign(static_cast<size_t>(blocks * depth), 0);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t k = 0; k < depth; ++k) {
      const int16_t c = w[o * depth + k];
      if (c == 0) continue;
      const int64_t at = o / kLanes * depth + k;
      p.shifts[static_cast<size_t>(at * kLanes + o % kLanes)] = exponent_of(c);
      auto& mask = c > 0 ? p.plus : p.minus;
      mask[static_cast<size_t>(at)] =
          static_cast<uint16_t>(mask[static_cast<size_t>(at)] | (1u << (o % kLanes)));
    }
}

namespace {

#if LOWBIT_SHIFT_X86

// GCC 12 warns that _mm512_sllv_epi32's pass-through operand (an undefined vector its header
// passes for the unmasked form) may be used uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

constexpr int kRows = 6;  // positions per tile

// NB blocks of 16 channels x R positions over the whole depth: per depth index, each position's
// code is broadcast, shifted by the 16 channels' exponents at once, and added where the weight is
// positive, subtracted where it is negative.
template <int NB, int R>
__attribute__((target("avx512f,avx512bw"))) void shift_tile(const int16_t* rows, int64_t row_stride,
                                                            int64_t depth, const int32_t* shifts,
                                                            const uint16_t* plus,
                                                            const uint16_t* minus, int32_t* acc,
                                                            int64_t acc_stride) {
  __m512i c[R][NB];
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < NB; ++b) c[r][b] = _mm512_setzero_si512();
  for (int64_t k = 0; k < depth; ++k) {
    __m512i e[NB];
    __mmask16 pos[NB], neg[NB];
    for (int b = 0; b < NB; ++b) {
      e[b] = _mm512_loadu_si512(shifts + (b * depth + k) * kLanes);
      pos[b] = plus[b * depth + k];
      neg[b] = minus[b * depth + k];
    }
    for (int r = 0; r < R; ++r) {
      const __m512i x = _mm512_set1_epi32(rows[r * row_stride + k]);
      for (int b = 0; b < NB; ++b) {
        const __m512i t = _mm512_sllv_epi32(x, e[b]);
        c[r][b] = _mm512_mask_add_epi32(c[r][b], pos[b], c[r][b], t);
        c[r][b] = _mm512_mask_sub_epi32(c[r][b], neg[b], c[r][b], t);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < NB; ++b) _mm512_storeu_si512(acc + r * acc_stride + b * kLanes, c[r][b]);
}

template <int NB>
__attribute__((target("avx512f,avx512bw"))) void shift_rows(
    int rows_left, const int16_t* rows, int64_t row_stride, int64_t depth, const int32_t* shifts,
    const uint16_t* plus, const uint16_t* minus, int32_t* acc, int64_t acc_stride) {
  switch (rows_left) {
    case 1:
      return shift_tile<NB, 1>(rows, row_stride, depth, shifts, plus, minus, acc, acc_stride);
    case 2:
      return shift_tile<NB, 2>(rows, row_stride, depth, shifts, plus, minus, acc, acc_stride);
    case 3:
      return shift_tile<NB, 3>(rows, row_stride, depth, shifts, plus, minus, acc, acc_stride);
    case 4:
      return shift_tile<NB, 4>(rows, row_stride, depth, shifts, plus, minus, acc, acc_stride);
    case 5:
      return shift_tile<NB, 5>(rows, row_stride, depth, shifts, plus, minus, acc, acc_stride);
    default:
      return shift_tile<NB, kRows>(rows, row_stride, depth, shifts, plus, minus, acc, acc_stride);
  }
}

__attribute__((target("avx512f,avx512bw"))) void gemm_shift_avx512(const int16_t* rows,
                                                                   int64_t positions,
                                                                   const PackedWeights& p,
                                                                   int32_t* acc) {
  const int64_t blocks = p.padded_out / kLanes, depth = p.depth;
  // Two blocks (32 channels) at a time: 12 accumulators, 2 exponent vectors and a broadcast.
  for (int64_t b0 = 0; b0 < blocks; b0 += 2) {
    const bool two = blocks - b0 >= 2;
    const int32_t* shifts = p.shifts.data() + b0 * depth * kLanes;
    const uint16_t* plus = p.plus.data() + b0 * depth;
    const uint16_t* minus = p.minus.data() + b0 * depth;
    for (int64_t p0 = 0; p0 < positions; p0 += kRows) {
      const int r = static_cast<int>(std::min<int64_t>(kRows, positions - p0));
      const int16_t* x = rows + p0 * p.padded_depth;
      int32_t* out = acc + p0 * p.padded_out + b0 * kLanes;
      if (two)
        shift_rows<2>(r, x, p.padded_depth, depth, shifts, plus, minus, out, p.padded_out);
      else
        shift_rows<1>(r, x, p.padded_depth, depth, shifts, plus, minus, out, p.padded_out);
    }
  }
}

bool has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

#pragma GCC diagnostic pop

#endif  // LOWBIT_SHIFT_X86

}  // namespace

// One output at a time: x << e as an unsigned shift (well defined for negative x).
void gemm_shift_portable(const int16_t* rows, int64_t positions, const PackedWeights& p,
                         int32_t* acc) {
  for (int64_t q = 0; q < positions; ++q) {
    const int16_t* x = rows + q * p.padded_depth;
    for (int64_t o = 0; o < p.padded_out; ++o) {
      const int64_t block = o / kLanes;
      const auto bit = static_cast<uint16_t>(1u << (o % kLanes));
      uint32_t sum = 0;
      for (int64_t k = 0; k < p.depth; ++k) {
        const int64_t at = block * p.depth + k;
        const uint32_t t = static_cast<uint32_t>(int32_t{x[k]})
                           << p.shifts[static_cast<size_t>(at * kLanes + o % kLanes)];
        if (p.plus[static_cast<size_t>(at)] & bit) sum += t;
        if (p.minus[static_cast<size_t>(at)] & bit) sum -= t;
      }
      acc[q * p.padded_out + o] = static_cast<int32_t>(sum);
    }
  }
}

void gemm_shift(const int16_t* rows, int64_t positions, const PackedWeights& packed, int32_t* acc) {
  LOWBIT_CHECK(packed.kernel == GemmKernel::kShift, "gemm_shift: weights packed for ",
               kernel_name(packed.kernel), "; expected shift");
#if LOWBIT_SHIFT_X86
  static const bool vector = has_avx512();
  if (vector) return gemm_shift_avx512(rows, positions, packed, acc);
#endif
  gemm_shift_portable(rows, positions, packed, acc);
}

}  // namespace lowbit::runtime
