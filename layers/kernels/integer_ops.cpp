#include "layers/kernels/integer_ops.h"

#include <algorithm>
#include <cmath>
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#endif

#include "core/check.h"

namespace lowbit::kernels {

int32_t dot_int16(const int16_t* a, const int16_t* b, int64_t n) {
  int32_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return sum;
}

namespace {

void check_one_image(const ConvGeometry& g) {
  LOWBIT_CHECK(g.batch == 1, "conv2d_int16: batch ", g.batch, "; expected one image (1)");
}

}  // namespace

void conv2d_int16_portable(const ConvGeometry& s, const int16_t* x, const int16_t* weight,
                           int32_t* out, IntConvScratch& scratch) {
  check_one_image(s);
  const int64_t ho = s.out_height(), wo = s.out_width(), positions = ho * wo;
  const int64_t group_in = s.in_channels / s.groups, group_out = s.out_channels / s.groups;
  const int64_t kh = s.kernel_h, kw = s.kernel_w, depth = group_in * kh * kw;
  std::vector<int16_t>& col = scratch.col;
  col.resize(static_cast<size_t>(positions * depth));
  for (int64_t g = 0; g < s.groups; ++g) {
    // im2col of this group's channels: row p holds the depth codes under output position p.
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        int16_t* row = col.data() + (oy * wo + ox) * depth;
        for (int64_t c = 0; c < group_in; ++c) {
          const int16_t* plane = x + (g * group_in + c) * s.height * s.width;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * s.stride - s.padding + ky;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = ox * s.stride - s.padding + kx;
              const bool inside = iy >= 0 && iy < s.height && ix >= 0 && ix < s.width;
              *row++ = inside ? plane[iy * s.width + ix] : int16_t{0};
            }
          }
        }
      }
    for (int64_t o = g * group_out; o < (g + 1) * group_out; ++o) {
      const int16_t* w = weight + o * depth;
      int32_t* y = out + o * positions;
      for (int64_t p = 0; p < positions; ++p) y[p] = dot_int16(col.data() + p * depth, w, depth);
    }
  }
}

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)

namespace {

constexpr int64_t kBlock = 16;  // positions per vector (int32 lanes)

// NB output channels x PB blocks of 16 positions: acc += code pairs (vpdpwssd: two int16 products
// summed into each int32 lane) times the broadcast weight pair of each channel. `pairs` holds, per
// block of 16 positions, the depth pairs one after the other ([block][pair][16]), so the loop over
// the depth reads memory in order.
template <int NB, int PB>
void vnni_tile(const int32_t* pairs, int64_t depth_pairs, int64_t block,
               const int32_t* weight_pairs, int64_t positions, int32_t* out) {
  __m512i acc[NB][PB];
  for (int i = 0; i < NB; ++i)
    for (int b = 0; b < PB; ++b) acc[i][b] = _mm512_setzero_si512();
  const int32_t* src[PB];
  for (int b = 0; b < PB; ++b) src[b] = pairs + (block + b) * depth_pairs * kBlock;
  for (int64_t q = 0; q < depth_pairs; ++q) {
    __m512i codes[PB];
    for (int b = 0; b < PB; ++b) codes[b] = _mm512_loadu_si512(src[b] + q * kBlock);
    for (int i = 0; i < NB; ++i) {
      const __m512i w = _mm512_set1_epi32(weight_pairs[i * depth_pairs + q]);
      for (int b = 0; b < PB; ++b) acc[i][b] = _mm512_dpwssd_epi32(acc[i][b], codes[b], w);
    }
  }
  for (int b = 0; b < PB; ++b) {
    const int64_t p0 = (block + b) * kBlock, valid = std::min<int64_t>(kBlock, positions - p0);
    const auto mask = static_cast<__mmask16>((1u << valid) - 1u);
    for (int i = 0; i < NB; ++i)
      _mm512_mask_storeu_epi32(out + i * positions + p0, mask, acc[i][b]);
  }
}

template <int NB>
void vnni_channels(const int32_t* pairs, int64_t depth_pairs, int64_t blocks,
                   const int32_t* weight_pairs, int64_t positions, int32_t* out) {
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2)
    vnni_tile<NB, 2>(pairs, depth_pairs, b, weight_pairs, positions, out);
  if (b < blocks) vnni_tile<NB, 1>(pairs, depth_pairs, b, weight_pairs, positions, out);
}

// The AVX-512 VNNI path: the depth in pairs (an odd depth padded with a zero code), one int32 per
// position and pair, laid out by blocks of 16 positions; tiles of 4 channels x 32 positions.
void conv2d_int16_vnni(const ConvGeometry& s, const int16_t* x, const int16_t* weight, int32_t* out,
                       IntConvScratch& scratch) {
  const int64_t ho = s.out_height(), wo = s.out_width(), positions = ho * wo;
  const int64_t blocks = (positions + kBlock - 1) / kBlock;
  const int64_t group_in = s.in_channels / s.groups, group_out = s.out_channels / s.groups;
  const int64_t kh = s.kernel_h, kw = s.kernel_w, depth = group_in * kh * kw,
                depth_pairs = (depth + 1) / 2;
  std::vector<int32_t>& pairs = scratch.pairs;
  pairs.assign(static_cast<size_t>(blocks * depth_pairs * kBlock), 0);  // padding positions stay 0
  scratch.weight_pairs.resize(static_cast<size_t>(group_out * depth_pairs));
  std::vector<int16_t>& row0 = scratch.row0;
  std::vector<int16_t>& row1 = scratch.row1;
  row0.resize(static_cast<size_t>(wo));
  row1.resize(static_cast<size_t>(wo));
  // One output row of depth index j = (c, ky, kx) of group g: the codes under it, 0 on padding.
  auto tap_row = [&](int64_t g, int64_t j, int64_t oy, int16_t* row) {
    std::fill(row, row + wo, int16_t{0});
    if (j >= depth) return;  // the zero half of an odd depth's last pair
    const int64_t c = j / (kh * kw), ky = j / kw % kh, kx = j % kw;
    const int64_t iy = oy * s.stride - s.padding + ky;
    if (iy < 0 || iy >= s.height) return;
    const int16_t* src = x + ((g * group_in + c) * s.height + iy) * s.width;
    // the ox with 0 <= ox * stride - padding + kx < width
    const int64_t first = std::max<int64_t>(0, (s.padding - kx + s.stride - 1) / s.stride);
    const int64_t last = std::min<int64_t>(wo, (s.width - 1 + s.padding - kx) / s.stride + 1);
    for (int64_t ox = first; ox < last; ++ox) row[ox] = src[ox * s.stride - s.padding + kx];
  };
  for (int64_t g = 0; g < s.groups; ++g) {
    // Pair q of depth indices (2q, 2q + 1) as one int32 per position: low half 2q, high half 2q
    // + 1.
    for (int64_t q = 0; q < depth_pairs; ++q)
      for (int64_t oy = 0; oy < ho; ++oy) {
        tap_row(g, 2 * q, oy, row0.data());
        tap_row(g, 2 * q + 1, oy, row1.data());
        for (int64_t ox = 0; ox < wo;) {  // runs of positions inside one block of 16
          const int64_t p = oy * wo + ox, lane = p % kBlock, run = std::min(kBlock - lane, wo - ox);
          int32_t* dst = pairs.data() + ((p / kBlock) * depth_pairs + q) * kBlock + lane;
          const int16_t* a = row0.data() + ox;
          const int16_t* b = row1.data() + ox;
          for (int64_t i = 0; i < run; ++i)
            dst[i] =
                static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(a[i])) |
                                     (static_cast<uint32_t>(static_cast<uint16_t>(b[i])) << 16));
          ox += run;
        }
      }
    for (int64_t o = 0; o < group_out; ++o) {
      const int16_t* w = weight + (g * group_out + o) * depth;
      for (int64_t q = 0; q < depth_pairs; ++q) {
        const auto low = static_cast<uint16_t>(w[2 * q]);
        const auto high = static_cast<uint16_t>(2 * q + 1 < depth ? w[2 * q + 1] : 0);
        scratch.weight_pairs[static_cast<size_t>(o * depth_pairs + q)] =
            static_cast<int32_t>(static_cast<uint32_t>(low) | (static_cast<uint32_t>(high) << 16));
      }
    }
    for (int64_t o = 0; o < group_out; o += 4) {
      const int32_t* wp = scratch.weight_pairs.data() + o * depth_pairs;
      int32_t* y = out + (g * group_out + o) * positions;
      switch (std::min<int64_t>(4, group_out - o)) {
        case 4:
          vnni_channels<4>(pairs.data(), depth_pairs, blocks, wp, positions, y);
          break;
        case 3:
          vnni_channels<3>(pairs.data(), depth_pairs, blocks, wp, positions, y);
          break;
        case 2:
          vnni_channels<2>(pairs.data(), depth_pairs, blocks, wp, positions, y);
          break;
        default:
          vnni_channels<1>(pairs.data(), depth_pairs, blocks, wp, positions, y);
          break;
      }
    }
  }
}

}  // namespace

#endif

void conv2d_int16(const ConvGeometry& s, const int16_t* x, const int16_t* weight, int32_t* out,
                  IntConvScratch& scratch) {
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
  check_one_image(s);
  conv2d_int16_vnni(s, x, weight, out, scratch);
#else
  conv2d_int16_portable(s, x, weight, out, scratch);
#endif
}

}  // namespace lowbit::kernels
