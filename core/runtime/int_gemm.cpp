#include "core/runtime/int_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/check.h"
#include "core/runtime/shift_gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOWBIT_X86 1
#define LOWBIT_TARGET(features) __attribute__((target(features)))
#else
#define LOWBIT_X86 0
#define LOWBIT_TARGET(features)
#endif

namespace lowbit::runtime {

std::string kernel_name(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::kVnni:
      return "vnni";
    case GemmKernel::kAvx2:
      return "avx2";
    case GemmKernel::kShift:
      return "shift";
    case GemmKernel::kPortable:
      break;
  }
  return "portable";
}

bool cpu_supports(GemmKernel kernel) {
#if LOWBIT_X86
  __builtin_cpu_init();
  switch (kernel) {
    case GemmKernel::kVnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vnni");
    case GemmKernel::kAvx2:
      return __builtin_cpu_supports("avx2");
    case GemmKernel::kPortable:
    case GemmKernel::kShift:  // AVX-512 when there, else plain C++
      return true;
  }
  return false;
#else
  return kernel == GemmKernel::kPortable || kernel == GemmKernel::kShift;
#endif
}

GemmKernel best_kernel() {
  if (const char* forced = std::getenv("LOWBIT_RUNTIME_KERNEL")) {
    for (GemmKernel k :
         {GemmKernel::kVnni, GemmKernel::kAvx2, GemmKernel::kPortable, GemmKernel::kShift})
      if (kernel_name(k) == forced) {
        LOWBIT_CHECK(cpu_supports(k), "LOWBIT_RUNTIME_KERNEL=", forced,
                     ": this CPU does not run that kernel");
        return k;
      }
    throw Error(
        concat("LOWBIT_RUNTIME_KERNEL=", forced, ": expected vnni, avx2, portable or shift"));
  }
  for (GemmKernel k : {GemmKernel::kVnni, GemmKernel::kAvx2})
    if (cpu_supports(k)) return k;
  return GemmKernel::kPortable;
}

int64_t channel_block(GemmKernel kernel) {
  return kernel == GemmKernel::kVnni || kernel == GemmKernel::kShift ? 16
         : kernel == GemmKernel::kAvx2                               ? 8
                                                                     : 1;
}
int64_t depth_step(GemmKernel kernel) {
  return kernel == GemmKernel::kVnni ? 4 : kernel == GemmKernel::kAvx2 ? 2 : 1;
}

namespace {
int64_t round_up(int64_t n, int64_t step) { return (n + step - 1) / step * step; }
}  // namespace

PackedWeights pack_weights(GemmKernel kernel, const int16_t* w, int64_t out, int64_t depth) {
  PackedWeights p;
  p.kernel = kernel;
  p.out = out;
  p.depth = depth;
  const int64_t lanes = channel_block(kernel), step = depth_step(kernel);
  p.padded_out = round_up(out, lanes);
  p.padded_depth = round_up(depth, step);
  const int64_t steps = p.padded_depth / step;
  // Element (o, k) goes to [o / lanes][k / step][o % lanes][k % step].
  auto at = [&](int64_t o, int64_t k) {
    return ((o / lanes * steps + k / step) * lanes + o % lanes) * step + k % step;
  };
  if (kernel == GemmKernel::kShift) {
    pack_shift_weights(w, out, depth, p);
  } else if (kernel == GemmKernel::kVnni) {
    p.bytes.assign(static_cast<size_t>(p.padded_out * p.padded_depth), 0);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < depth; ++k) {
        const int16_t c = w[o * depth + k];
        LOWBIT_CHECK(c >= -128 && c <= 127, "pack_weights: code ", c, " does not fit int8");
        p.bytes[static_cast<size_t>(at(o, k))] = static_cast<int8_t>(c);
      }
  } else {
    p.words.assign(static_cast<size_t>(p.padded_out * p.padded_depth), 0);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < depth; ++k) p.words[static_cast<size_t>(at(o, k))] = w[o * depth + k];
  }
  return p;
}

namespace {

constexpr int kRows = 6;  // positions per tile: 6 x NB accumulators stay in registers

#if LOWBIT_X86

// Where a position's depth lies: `taps` runs of tap_steps 4-byte steps, run t at offset
// tap_offsets[t] from the position's start (one run at 0 for an im2col row).
struct TapRuns {
  const int64_t* offsets;
  int64_t taps, tap_steps;
};

// NB blocks of 16 channels x R positions, over the whole depth: each step broadcasts 4 input
// bytes of a position and multiply-adds them into 16 channels at once (vpdpbusd: u8 x s8, four
// products summed into each int32 lane, exactly).
template <int NB, int R>
LOWBIT_TARGET("avx512f,avx512bw,avx512vnni")
void vnni_tile(const uint8_t* rows, int64_t row_stride, const TapRuns& runs, const int8_t* w,
               int32_t* acc, int64_t acc_stride) {
  __m512i c[R][NB];
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < NB; ++b) c[r][b] = _mm512_setzero_si512();
  const int64_t block_bytes = runs.taps * runs.tap_steps * 64;
  for (int64_t t = 0; t < runs.taps; ++t) {
    const uint8_t* x = rows + runs.offsets[t];
    const int8_t* wt = w + t * runs.tap_steps * 64;
    for (int64_t s = 0; s < runs.tap_steps; ++s) {
      __m512i wv[NB];
      for (int b = 0; b < NB; ++b) wv[b] = _mm512_loadu_si512(wt + b * block_bytes + s * 64);
      for (int r = 0; r < R; ++r) {
        int32_t four;
        std::memcpy(&four, x + r * row_stride + 4 * s, 4);
        const __m512i a = _mm512_set1_epi32(four);
        for (int b = 0; b < NB; ++b) c[r][b] = _mm512_dpbusd_epi32(c[r][b], a, wv[b]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < NB; ++b) _mm512_storeu_si512(acc + r * acc_stride + b * 16, c[r][b]);
}

template <int NB>
LOWBIT_TARGET("avx512f,avx512bw,avx512vnni")
void vnni_rows(int rows_left, const uint8_t* rows, int64_t row_stride, const TapRuns& runs,
               const int8_t* w, int32_t* acc, int64_t acc_stride) {
  switch (rows_left) {
    case 1:
      return vnni_tile<NB, 1>(rows, row_stride, runs, w, acc, acc_stride);
    case 2:
      return vnni_tile<NB, 2>(rows, row_stride, runs, w, acc, acc_stride);
    case 3:
      return vnni_tile<NB, 3>(rows, row_stride, runs, w, acc, acc_stride);
    case 4:
      return vnni_tile<NB, 4>(rows, row_stride, runs, w, acc, acc_stride);
    case 5:
      return vnni_tile<NB, 5>(rows, row_stride, runs, w, acc, acc_stride);
    default:
      return vnni_tile<NB, kRows>(rows, row_stride, runs, w, acc, acc_stride);
  }
}

LOWBIT_TARGET("avx512f,avx512bw,avx512vnni")
void gemm_vnni(const uint8_t* rows, int64_t positions, int64_t row_stride, const TapRuns& runs,
               const PackedWeights& p, int32_t* acc) {
  const int64_t steps = p.padded_depth / 4, blocks = p.padded_out / 16;
  // Up to 4 blocks (64 channels) at a time: 24 accumulators, 4 weight vectors and a broadcast
  // in AVX-512's 32 registers.
  for (int64_t b0 = 0; b0 < blocks; b0 += 4) {
    const int64_t nb = std::min<int64_t>(4, blocks - b0);
    const int8_t* w = p.bytes.data() + b0 * steps * 64;
    for (int64_t p0 = 0; p0 < positions; p0 += kRows) {
      const int r = static_cast<int>(std::min<int64_t>(kRows, positions - p0));
      const uint8_t* x = rows + p0 * row_stride;
      int32_t* out = acc + p0 * p.padded_out + b0 * 16;
      switch (nb) {
        case 1:
          vnni_rows<1>(r, x, row_stride, runs, w, out, p.padded_out);
          break;
        case 2:
          vnni_rows<2>(r, x, row_stride, runs, w, out, p.padded_out);
          break;
        case 3:
          vnni_rows<3>(r, x, row_stride, runs, w, out, p.padded_out);
          break;
        default:
          vnni_rows<4>(r, x, row_stride, runs, w, out, p.padded_out);
          break;
      }
    }
  }
}

// NB blocks of 8 channels x R positions: each step broadcasts a pair of int16 codes and
// multiply-adds it into 8 channels (vpmaddwd: two int16 products summed into each int32 lane).
template <int NB, int R>
LOWBIT_TARGET("avx2")
void avx2_tile(const int16_t* rows, int64_t row_stride, int64_t steps, const int16_t* w,
               int32_t* acc, int64_t acc_stride) {
  __m256i c[R][NB];
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < NB; ++b) c[r][b] = _mm256_setzero_si256();
  const int64_t block_words = steps * 16;
  for (int64_t s = 0; s < steps; ++s) {
    __m256i wv[NB];
    for (int b = 0; b < NB; ++b)
      wv[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + b * block_words + s * 16));
    for (int r = 0; r < R; ++r) {
      int32_t pair;
      std::memcpy(&pair, rows + r * row_stride + 2 * s, 4);
      const __m256i a = _mm256_set1_epi32(pair);
      for (int b = 0; b < NB; ++b) c[r][b] = _mm256_add_epi32(c[r][b], _mm256_madd_epi16(a, wv[b]));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < NB; ++b)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + r * acc_stride + b * 8), c[r][b]);
}

template <int NB>
LOWBIT_TARGET("avx2")
void avx2_rows(int rows_left, const int16_t* rows, int64_t row_stride, int64_t steps,
               const int16_t* w, int32_t* acc, int64_t acc_stride) {
  switch (rows_left) {
    case 1:
      return avx2_tile<NB, 1>(rows, row_stride, steps, w, acc, acc_stride);
    case 2:
      return avx2_tile<NB, 2>(rows, row_stride, steps, w, acc, acc_stride);
    case 3:
      return avx2_tile<NB, 3>(rows, row_stride, steps, w, acc, acc_stride);
    case 4:
      return avx2_tile<NB, 4>(rows, row_stride, steps, w, acc, acc_stride);
    case 5:
      return avx2_tile<NB, 5>(rows, row_stride, steps, w, acc, acc_stride);
    default:
      return avx2_tile<NB, kRows>(rows, row_stride, steps, w, acc, acc_stride);
  }
}

LOWBIT_TARGET("avx2")
void gemm_avx2(const int16_t* rows, int64_t positions, const PackedWeights& p, int32_t* acc) {
  const int64_t steps = p.padded_depth / 2, blocks = p.padded_out / 8;
  // 2 blocks (16 channels) at a time: 12 accumulators, 2 weight vectors and a broadcast in AVX2's
  // 16 registers.
  for (int64_t b0 = 0; b0 < blocks; b0 += 2) {
    const bool two = blocks - b0 >= 2;
    const int16_t* w = p.words.data() + b0 * steps * 16;
    for (int64_t p0 = 0; p0 < positions; p0 += kRows) {
      const int r = static_cast<int>(std::min<int64_t>(kRows, positions - p0));
      const int16_t* x = rows + p0 * p.padded_depth;
      int32_t* out = acc + p0 * p.padded_out + b0 * 8;
      if (two)
        avx2_rows<2>(r, x, p.padded_depth, steps, w, out, p.padded_out);
      else
        avx2_rows<1>(r, x, p.padded_depth, steps, w, out, p.padded_out);
    }
  }
}

#endif  // LOWBIT_X86

void gemm_portable(const int16_t* rows, int64_t positions, const PackedWeights& p, int32_t* acc) {
  for (int64_t q = 0; q < positions; ++q) {
    const int16_t* x = rows + q * p.padded_depth;
    for (int64_t o = 0; o < p.out; ++o) {
      const int16_t* w = p.words.data() + o * p.padded_depth;
      int32_t sum = 0;
      for (int64_t k = 0; k < p.depth; ++k) sum += int32_t{x[k]} * int32_t{w[k]};
      acc[q * p.padded_out + o] = sum;
    }
  }
}

}  // namespace

void gemm_u8s8(const uint8_t* rows, int64_t positions, const PackedWeights& packed, int32_t* acc) {
  const int64_t origin = 0;
  gemm_u8s8_taps(rows, positions, packed.padded_depth, &origin, 1, packed, acc);
}

void gemm_u8s8_taps(const uint8_t* rows, int64_t positions, int64_t row_stride,
                    const int64_t* tap_offsets, int64_t taps, const PackedWeights& packed,
                    int32_t* acc) {
  LOWBIT_CHECK(packed.kernel == GemmKernel::kVnni, "gemm_u8s8: weights packed for ",
               kernel_name(packed.kernel), "; expected vnni");
  LOWBIT_CHECK(taps >= 1 && packed.padded_depth % (4 * taps) == 0, "gemm_u8s8: ", taps,
               " taps do not split a depth of ", packed.padded_depth, " into 4-byte steps");
#if LOWBIT_X86
  gemm_vnni(rows, positions, row_stride, TapRuns{tap_offsets, taps, packed.padded_depth / 4 / taps},
            packed, acc);
#else
  (void)rows, (void)positions, (void)row_stride, (void)tap_offsets, (void)acc;
#endif
}

void gemm_i16(const int16_t* rows, int64_t positions, const PackedWeights& packed, int32_t* acc) {
  switch (packed.kernel) {
#if LOWBIT_X86
    case GemmKernel::kAvx2:
      return gemm_avx2(rows, positions, packed, acc);
#endif
    case GemmKernel::kPortable:
      return gemm_portable(rows, positions, packed, acc);
    case GemmKernel::kShift:
      return gemm_shift(rows, positions, packed, acc);
    default:
      break;
  }
  throw Error(concat("gemm_i16: weights packed for ", kernel_name(packed.kernel),
                     "; expected avx2, portable or shift"));
}

}  // namespace lowbit::runtime
