// Winograd F(4x4, 3x3): each 4x4 output tile of an (image, output channel) pair is
//   Y = A^T [ sum_c (G g_oc G^T) .* (B^T d_c B) ] A
// with d_c the 6x6 input tile of channel c (tiles overlap by 2) and g_oc the 3x3 kernel:
// 36 multiplies per tile and channel pair instead of direct convolution's 144. With the
// interpolation points 0, 1, -1, 2, -2 and infinity (Lavin & Gray 2016):
//   B^T = [ 4  0 -5  0  1  0 ]    G = [  1/4     0     0  ]    A^T = [ 1  1  1  1  1  0 ]
//         [ 0 -4 -4  1  1  0 ]        [ -1/6  -1/6  -1/6  ]          [ 0  1 -1  2 -2  0 ]
//         [ 0  4 -4 -1  1  0 ]        [ -1/6   1/6  -1/6  ]          [ 0  1  1  4  4  0 ]
//         [ 0 -2 -1  2  1  0 ]        [ 1/24  1/12   1/6  ]          [ 0  1 -1  8 -8  1 ]
//         [ 0  2 -1 -2  1  0 ]        [ 1/24 -1/12   1/6  ]
//         [ 0  4  0 -5  0  1 ]        [   0     0     1   ]
// The channel sum at each of the 36 tile positions xi is one GEMM over a chunk of T tiles:
//   M[xi] (C_out x T) = U[xi] (C_out x C_in) * V[xi] (C_in x T),   U = G g G^T,  V = B^T d B.
//
// The input gradient is the same kind of convolution: with y(i,j) = sum x(i+ky-1, j+kx-1) w(ky,kx),
//   dx[c](i,j) = sum_{o,ky,kx} dy[o](i-ky+1, j-kx+1) w[o,c](ky,kx)
//              = sum_{o,ky,kx} dy[o](i+ky-1, j+kx-1) w[o,c](2-ky, 2-kx),
// a 3x3, stride 1, padding 1 convolution of dy (C_out channels in, C_in out) whose kernel
// (c, o) is w[o, c] turned by 180 degrees. Its U is computed in the forward's (o, c) layout
// and handed to the GEMM transposed.
//
// Layout: a chunk is a block of up to 16 images times a band of tile rows. Each input plane
// of the chunk is transposed (16x16 blocks) to (row, column, image) with a zero border, so
// that every transform is a loop over 16 contiguous image lanes (one AVX-512 register);
// column t of V[xi] and M[xi] is (tile row, tile column, image).
//
// Float error, N(0, 1) data, 512 input channels, max |error| / max |y| against a double
// direct convolution: 8.0e-6 forward, 1.1e-5 input gradient (im2col 3.3e-7), below the 1e-4
// training needs. F(2x2, 3x3) (4x4 tiles, 2.25x fewer multiplies) erred 5e-7 but ran at
// 0.6-0.9x this speed.
// Speed (bench/winograd_bench, batch 128, one thread, CPU time, OpenBLAS Cooperlake kernels on
// Zen 5), as GFLOP/s of the direct convolution: 465-600 forward and input gradient at 64-512
// channels, 2.6-3.5x im2col's; 230-620 on ResNet-20's 16-64 channels, 3-5.5x. A ResNet-18
// training step at batch 128 went from 2.80 to 1.83 CPU seconds (bench/step_profile).
#include "layers/kernels/winograd3x3.h"

#include <algorithm>
#include <cstring>
#include <vector>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "core/check.h"
#include "core/parallel.h"
#include "layers/kernels/gemm.h"
#include "layers/kernels/lane_sum.h"  // kLanes
#include "layers/kernels/scratch.h"

namespace lowbit::kernels {
namespace {

constexpr int64_t kOut = 4;                // output tile side (m)
constexpr int64_t kIn = 6;                 // input tile side (m + 2)
constexpr int64_t kPositions = kIn * kIn;  // xi: 36 GEMMs
// Column skew of the xi planes of U, V and M: planes a power of two bytes apart would put the
// 36 streams of a tile transform in the same cache sets (64 channels ran 1.4x slower).
constexpr int64_t kSkew = 16;

// kLanes floats as one value (GCC/Clang vector extension): one AVX-512 register with -march=native.
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

// V is float (one lane) or Lanes; memcpy loads and stores take any alignment.
template <class V>
V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
void store(float* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// r = B^T d for six values.
template <class V>
void input_1d(const V* d, V* r) {
  const V t0 = d[4] - 4.0f * d[2], t1 = d[3] - 4.0f * d[1], t2 = d[4] - d[2], t3 = 2.0f * (d[3] - d[1]);
  r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  r[1] = t0 + t1, r[2] = t0 - t1, r[3] = t2 + t3, r[4] = t2 - t3;
  r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// r = A^T s: four values from six.
template <class V>
void output_1d(const V* s, V* r) {
  const V t1 = s[1] + s[2], t2 = s[1] - s[2], t3 = s[3] + s[4], t4 = s[3] - s[4];
  r[0] = s[0] + t1 + t3, r[1] = t2 + 2.0f * t4, r[2] = t1 + 4.0f * t3, r[3] = t2 + 8.0f * t4 + s[5];
}

// r = G g: six values from three.
template <class V>
void weight_1d(const V* g, V* r) {
  const V t0 = g[0] + g[2], t1 = 0.25f * g[0] + g[2];
  r[0] = 0.25f * g[0];
  r[1] = (t0 + g[1]) * (-1.0f / 6.0f), r[2] = (t0 - g[1]) * (-1.0f / 6.0f);
  r[3] = (t1 + 0.5f * g[1]) * (1.0f / 6.0f), r[4] = (t1 - 0.5f * g[1]) * (1.0f / 6.0f);
  r[5] = g[2];
}

// V = B^T d B for one tile: d(k, l) at src[k*row + l*col]; V(k, l) to dst[(6k + l)*ld].
template <class V>
void input_tile(const float* src, int64_t row, int64_t col, float* dst, int64_t ld) {
  V d[kIn][kIn];
#pragma GCC unroll 6
  for (int l = 0; l < kIn; ++l) {
    V c[kIn], r[kIn];
#pragma GCC unroll 6
    for (int k = 0; k < kIn; ++k) c[k] = load<V>(src + k * row + l * col);
    input_1d(c, r);
#pragma GCC unroll 6
    for (int k = 0; k < kIn; ++k) d[k][l] = r[k];
  }
#pragma GCC unroll 6
  for (int k = 0; k < kIn; ++k) {
    V r[kIn];
    input_1d(d[k], r);
#pragma GCC unroll 6
    for (int l = 0; l < kIn; ++l) store(dst + (k * kIn + l) * ld, r[l]);
  }
}

// Y = A^T M A for one tile: M(k, l) at src[(6k + l)*ld]; Y(r, j) to dst[r*row + j*col].
template <class V>
void output_tile(const float* src, int64_t ld, float* dst, int64_t row, int64_t col) {
  V s[kOut][kIn];
#pragma GCC unroll 6
  for (int l = 0; l < kIn; ++l) {
    V c[kIn], r[kOut];
#pragma GCC unroll 6
    for (int k = 0; k < kIn; ++k) c[k] = load<V>(src + (k * kIn + l) * ld);
    output_1d(c, r);
#pragma GCC unroll 4
    for (int k = 0; k < kOut; ++k) s[k][l] = r[k];
  }
#pragma GCC unroll 4
  for (int k = 0; k < kOut; ++k) {
    V r[kOut];
    output_1d(s[k], r);
#pragma GCC unroll 4
    for (int j = 0; j < kOut; ++j) store(dst + k * row + j * col, r[j]);
  }
}

// U = G g G^T for one kernel: g(k, l) at src[(3k + l)*ld_src]; U(k, l) to dst[(6k + l)*ld].
template <class V>
void weight_tile(const float* src, int64_t ld_src, float* dst, int64_t ld) {
  V t[kIn][3];
#pragma GCC unroll 3
  for (int l = 0; l < 3; ++l) {
    const V c[3] = {load<V>(src + l * ld_src), load<V>(src + (3 + l) * ld_src), load<V>(src + (6 + l) * ld_src)};
    V r[kIn];
    weight_1d(c, r);
#pragma GCC unroll 6
    for (int k = 0; k < kIn; ++k) t[k][l] = r[k];
  }
#pragma GCC unroll 6
  for (int k = 0; k < kIn; ++k) {
    V r[kIn];
    weight_1d(t[k], r);
#pragma GCC unroll 6
    for (int l = 0; l < kIn; ++l) store(dst + (k * kIn + l) * ld, r[l]);
  }
}

// body(i, Lanes{}) for i = 0, kLanes, ... while kLanes lanes remain, then body(i, float{}) for the rest.
template <class Body>
void for_lanes(int64_t n, Body body) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) body(i, Lanes{});
  for (; i < n; ++i) body(i, float{});
}

#ifdef __AVX512F__
// Lane indices for _mm512_permutex2var_ps(lo, index, hi) (16 + l picks lane l of hi) that swap
// bit q of the register index with bit q of the lane index between registers lo and hi.
struct SwapIndex {
  int32_t lo[16], hi[16];
};
constexpr SwapIndex swap_index(int q) {
  SwapIndex s{};
  for (int l = 0; l < 16; ++l) {
    const bool upper = (l >> q) & 1;
    s.lo[l] = upper ? 16 + (l ^ (1 << q)) : l;
    s.hi[l] = upper ? 16 + l : l ^ (1 << q);
  }
  return s;
}
constexpr SwapIndex kSwapIndex[4] = {swap_index(0), swap_index(1), swap_index(2), swap_index(3)};
#endif

// cols[j][r] = rows[r][j] for r, j < 16.
void transpose16(const float* const* rows, float* const* cols) {
#ifdef __AVX512F__
  // Register r, lane j -> register j, lane r: swap the four index bits pairwise.
  __m512 v[16];
  for (int r = 0; r < 16; ++r) v[r] = _mm512_loadu_ps(rows[r]);
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const __m512i lo = _mm512_loadu_si512(kSwapIndex[q].lo), hi = _mm512_loadu_si512(kSwapIndex[q].hi);
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) {
      if (r & (1 << q)) continue;
      const __m512 a = v[r], b = v[r | 1 << q];
      v[r] = _mm512_permutex2var_ps(a, lo, b);
      v[r | 1 << q] = _mm512_permutex2var_ps(a, hi, b);
    }
  }
  for (int j = 0; j < 16; ++j) _mm512_storeu_ps(cols[j], v[j]);
#else
  for (int j = 0; j < 16; ++j)
    for (int r = 0; r < 16; ++r) cols[j][r] = rows[r][j];
#endif
}

// The convolution computed: `in` channels to `out` channels on H x W maps.
struct Problem {
  int64_t batch, in, out, height, width;
};

// GEMM columns (tiles) per chunk: 128 was as fast as or faster than 64-256 and than sizing
// chunks by a 1-4 MB budget for V and M, on every benchmark shape (bench/winograd_bench).
constexpr int64_t kColumns = 128;

struct Plan {
  int64_t th, tw;         // tiles per image: th x tw
  int64_t wp, wo;         // widths of the padded input plane (4 tw + 2) and of the tiled output (4 tw)
  int64_t ranges;         // the batch is split into this many contiguous ranges, one per thread
  int64_t images, rows;   // a chunk: up to `images` images of a range times `rows` tile rows
  // Pixel q = y W + x of a plane: its position in the padded input plane and in the output plane.
  std::vector<int64_t> in_pixel, out_pixel;

  explicit Plan(const Problem& p) {
    th = (p.height + kOut - 1) / kOut, tw = (p.width + kOut - 1) / kOut;
    wp = kOut * tw + 2, wo = kOut * tw;
    ranges = std::max<int64_t>(1, std::min<int64_t>(num_threads(), p.batch));
    // At least one vector of images; whole images while they fit in kColumns, else bands of rows.
    images = std::min(std::max<int64_t>(kLanes, (kColumns + th * tw - 1) / (th * tw)), (p.batch + ranges - 1) / ranges);
    rows = std::clamp<int64_t>(kColumns / (images * tw), 1, th);
    for (int64_t y = 0; y < p.height; ++y)
      for (int64_t x = 0; x < p.width; ++x) {
        in_pixel.push_back((y + 1) * wp + x + 1);
        out_pixel.push_back(y * wo + x);
      }
  }
};

// U[xi][o][c] = (G g G^T)[xi] for g = weight[o][c] of the (out, in, 3, 3) weights, turned by 180
// degrees with `rotate`, in the calling thread's scratch with the xi planes ldu floats apart.
float* transform_weights(const ConvGeometry& g, const float* weight, bool rotate, int64_t ldu) {
  const int64_t w_out = g.out_channels, w_in = g.in_channels;
  float* u = thread_scratch(3, static_cast<size_t>(kPositions * ldu));
  parallel_for(w_out, 8, [&](int64_t o0, int64_t o1) {
    float* taps = thread_scratch(2, static_cast<size_t>(9 * w_in));  // (9, w_in): one tap per row
    for (int64_t o = o0; o < o1; ++o) {
      for (int64_t c = 0; c < w_in; ++c)
        for (int k = 0; k < 9; ++k) taps[k * w_in + c] = weight[(o * w_in + c) * 9 + (rotate ? 8 - k : k)];
      for_lanes(w_in, [&](int64_t c, auto lanes) {
        weight_tile<decltype(lanes)>(taps + c, w_in, u + o * w_in + c, ldu);
      });
    }
  });
  return u;
}

// buf[(in_pixel[q] - origin) * nb + i] = plane q of channel c of image b0 + i, for q in [q0, q1).
void interleave(const Problem& p, const Plan& plan, const float* x, int64_t b0, int64_t nb, int64_t c, int64_t q0,
                int64_t q1, int64_t origin, float* buf) {
  const int64_t plane = p.height * p.width, stride = p.in * plane;
  const float* src = x + (b0 * p.in + c) * plane;
  const int64_t* pos = plan.in_pixel.data();
  int64_t i0 = 0;
  for (; i0 + 16 <= nb; i0 += 16) {
    int64_t q = q0;
    for (; q + 16 <= q1; q += 16) {
      const float* rows[16];
      float* cols[16];
      for (int r = 0; r < 16; ++r) {
        rows[r] = src + (i0 + r) * stride + q;
        cols[r] = buf + (pos[q + r] - origin) * nb + i0;
      }
      transpose16(rows, cols);
    }
    for (; q < q1; ++q)
      for (int64_t i = i0; i < i0 + 16; ++i) buf[(pos[q] - origin) * nb + i] = src[i * stride + q];
  }
  for (; i0 < nb; ++i0)
    for (int64_t q = q0; q < q1; ++q) buf[(pos[q] - origin) * nb + i0] = src[i0 * stride + q];
}

struct Epilogue {
  const float* bias;  // added to output channel o (forward), or null
  bool accumulate;    // dst += result instead of dst = result
};

// Plane q of channel o of image b0 + i of dst = (or +=) buf[(out_pixel[q] - origin) * nb + i]
// (+ bias), for q in [q0, q1).
void deinterleave(const Problem& p, const Plan& plan, const float* buf, int64_t b0, int64_t nb, int64_t o,
                  int64_t q0, int64_t q1, int64_t origin, Epilogue e, float* dst) {
  const int64_t plane = p.height * p.width, stride = p.out * plane;
  const float b = e.bias ? e.bias[o] : 0.0f;
  float* out = dst + (b0 * p.out + o) * plane;
  const int64_t* pos = plan.out_pixel.data();
  // out[i*stride + q + j] (+)= values[j] for j < n.
  auto emit = [&](int64_t i, int64_t q, const float* values, int64_t n) {
    float* d = out + i * stride + q;
    if (e.accumulate) {
      for (int64_t j = 0; j < n; ++j) d[j] += values[j];
    } else {
      for (int64_t j = 0; j < n; ++j) d[j] = values[j] + b;
    }
  };
  int64_t i0 = 0;
  for (; i0 + 16 <= nb; i0 += 16) {
    int64_t q = q0;
    for (; q + 16 <= q1; q += 16) {
      float block[16][16];
      const float* rows[16];
      float* cols[16];
      for (int r = 0; r < 16; ++r) rows[r] = buf + (pos[q + r] - origin) * nb + i0, cols[r] = block[r];
      transpose16(rows, cols);
      for (int r = 0; r < 16; ++r) emit(i0 + r, q, block[r], 16);
    }
    for (; q < q1; ++q)
      for (int64_t i = i0; i < i0 + 16; ++i) emit(i, q, buf + (pos[q] - origin) * nb + i, 1);
  }
  for (; i0 < nb; ++i0)
    for (int64_t q = q0; q < q1; ++q) emit(i0, q, buf + (pos[q] - origin) * nb + i0, 1);
}

// One convolution: the problem, its plan, the transformed weights, and where the result goes.
struct Pass {
  const Problem& p;
  const Plan& plan;
  const float* u;  // U[xi] at u + xi * ldu: (out x in), or (in x out) read transposed with trans_u
  int64_t ldu;
  bool trans_u;
  Epilogue e;
  int64_t ldv, ldm;  // xi plane strides of V and M
};

// Images b0..b0+nb-1, tile rows ty0..ty0+rows-1: transforms, 36 GEMMs, inverse transforms.
// v, mm: V and M; ibuf, obuf: the interleaved input band and output band.
void run_chunk(const Pass& s, const float* src, float* dst, int64_t b0, int64_t nb, int64_t ty0, int64_t rows,
               float* v, float* mm, float* ibuf, float* obuf) {
  const Problem& p = s.p;
  const Plan& plan = s.plan;
  const int64_t tiles = rows * plan.tw, cols = nb * tiles, row_stride = plan.wp * nb;
  // Input rows 4 ty0 - 1 .. 4 (ty0 + rows) with the zero border, which is written once:
  // interleave fills the same interior for every channel.
  const int64_t y0 = std::max<int64_t>(0, kOut * ty0 - 1), y1 = std::min(p.height, kOut * (ty0 + rows) + 1);
  std::fill(ibuf, ibuf + (kOut * rows + 2) * row_stride, 0.0f);
  for (int64_t c = 0; c < p.in; ++c) {
    interleave(p, plan, src, b0, nb, c, y0 * p.width, y1 * p.width, kOut * ty0 * plan.wp, ibuf);
    for (int64_t t = 0; t < tiles; ++t) {
      const float* in = ibuf + (t / plan.tw * kOut * plan.wp + t % plan.tw * kOut) * nb;
      float* out = v + c * cols + t * nb;  // V[xi] column t * nb + i
      for_lanes(nb, [&](int64_t i, auto lanes) {
        input_tile<decltype(lanes)>(in + i, row_stride, nb, out + i, s.ldv);
      });
    }
  }
  const int64_t lda = s.trans_u ? p.out : p.in;
  for (int64_t xi = 0; xi < kPositions; ++xi)
    gemm(s.trans_u, false, p.out, cols, p.in, 1.0f, s.u + xi * s.ldu, lda, v + xi * s.ldv, cols, 0.0f,
         mm + xi * s.ldm, cols);
  for (int64_t o = 0; o < p.out; ++o) {
    for (int64_t t = 0; t < tiles; ++t) {
      const float* in = mm + o * cols + t * nb;
      float* out = obuf + (t / plan.tw * kOut * plan.wo + t % plan.tw * kOut) * nb;
      for_lanes(nb, [&](int64_t i, auto lanes) {
        output_tile<decltype(lanes)>(in + i, s.ldm, out + i, plan.wo * nb, nb);
      });
    }
    deinterleave(p, plan, obuf, b0, nb, o, kOut * ty0 * p.width, std::min(p.height, kOut * (ty0 + rows)) * p.width,
                 kOut * ty0 * plan.wo, s.e, dst);
  }
}

// dst (+)= the convolution of src: each thread takes one contiguous range of images, in chunks
// fixed by the plan (so the result depends on the thread count only).
void run(const Problem& p, const float* src, const float* u, int64_t ldu, bool trans_u, Epilogue e, float* dst) {
  const Plan plan(p);
  const int64_t max_cols = plan.images * plan.rows * plan.tw;
  const Pass s{p, plan, u, ldu, trans_u, e, p.in * max_cols + kSkew, p.out * max_cols + kSkew};
  const int64_t in_buf = (kOut * plan.rows + 2) * plan.wp * plan.images;
  const int64_t out_buf = kOut * plan.rows * plan.wo * plan.images;
  parallel_for(plan.ranges, 1, [&](int64_t r0, int64_t r1) {
    float* v = thread_scratch(0, static_cast<size_t>(kPositions * s.ldv));
    float* mm = thread_scratch(1, static_cast<size_t>(kPositions * s.ldm));
    float* ibuf = thread_scratch(2, static_cast<size_t>(in_buf + out_buf));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t first = p.batch * r / plan.ranges, last = p.batch * (r + 1) / plan.ranges;
      for (int64_t b0 = first; b0 < last; b0 += plan.images)
        for (int64_t ty0 = 0; ty0 < plan.th; ty0 += plan.rows)
          run_chunk(s, src, dst, b0, std::min(plan.images, last - b0), ty0, std::min(plan.rows, plan.th - ty0), v, mm,
                    ibuf, ibuf + in_buf);
    }
  });
}

void check_geometry(const ConvGeometry& g) {
  LOWBIT_CHECK(winograd3x3_applies(g), "winograd3x3: needs a 3x3 kernel, stride 1, padding 1 and one group, got ",
               g.kernel_h, "x", g.kernel_w, " stride ", g.stride, " padding ", g.padding, " groups ", g.groups);
  LOWBIT_CHECK(g.batch > 0 && g.in_channels > 0 && g.out_channels > 0 && g.height > 0 && g.width > 0,
               "winograd3x3: needs positive sizes, got batch ", g.batch, ", channels ", g.in_channels, " -> ",
               g.out_channels, ", map ", g.height, "x", g.width);
}

}  // namespace

bool winograd3x3_applies(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride == 1 && g.padding == 1 && g.groups == 1;
}

void winograd3x3_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  check_geometry(g);
  const int64_t ldu = g.out_channels * g.in_channels + kSkew;
  const float* u = transform_weights(g, weight, false, ldu);
  run({g.batch, g.in_channels, g.out_channels, g.height, g.width}, x, u, ldu, false, {bias, false}, y);
}

void winograd3x3_backward_input(const ConvGeometry& g, const float* dy, const float* weight, float* dx,
                                bool overwrite) {
  check_geometry(g);
  const int64_t ldu = g.out_channels * g.in_channels + kSkew;
  const float* u = transform_weights(g, weight, true, ldu);
  run({g.batch, g.out_channels, g.in_channels, g.height, g.width}, dy, u, ldu, true, {nullptr, !overwrite}, dx);
}

}  // namespace lowbit::kernels
