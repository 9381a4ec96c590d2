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
// The weight gradient is the forward's adjoint in g: with P = sum_c U .* V and Y = A^T P A,
//   dP = A dY A^T,   dU[o, c] = sum_tiles dP[o] .* V[c],   dg[o, c] = G^T dU[o, c] G,
// dY the 4x4 output-gradient tile (zeros beyond the map). At each xi this is one GEMM per chunk
// with the tiles as K, accumulated over a thread's chunks:
//   M[xi] (C_out x C_in) += D[xi] (C_out x T) * V[xi]^T (T x C_in),   D = A dY A^T,
// and each thread's M becomes dW = G^T M G once, at the end; the threads' dW are added in range
// order.
//
// Layout: a chunk is a block of up to 16 images times a band of tile rows. Each input plane
// of the chunk is transposed (16x16 blocks) to (row, column, image) with a zero border, so
// that every transform is a loop over 16 contiguous image lanes (one AVX-512 register);
// column t of V[xi] and M[xi] is (tile row, tile column, image).
//
// F(4x4, 3x3) rather than F(2x2, 3x3): its float error stays well below what training needs and
// it outran the smaller tiles and im2col (error and speed: docs/performance.md, 'Winograd').
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
// 36 streams of a tile transform in the same cache sets (docs/performance.md, 'Winograd').
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
  const V t0 = d[4] - 4.0f * d[2], t1 = d[3] - 4.0f * d[1], t2 = d[4] - d[2],
          t3 = 2.0f * (d[3] - d[1]);
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

// r = A z: six values from four, the adjoint of output_1d (A's rows are the points' powers
// 1, z, z^2, z^3 at 0, 1, -1, 2, -2, and (0, 0, 0, 1) for infinity).
template <class V>
void output_grad_1d(const V* z, V* r) {
  const V e1 = z[0] + z[2], o1 = z[1] + z[3], e2 = z[0] + 4.0f * z[2],
          o2 = 2.0f * z[1] + 8.0f * z[3];
  r[0] = z[0], r[1] = e1 + o1, r[2] = e1 - o1, r[3] = e2 + o2, r[4] = e2 - o2, r[5] = z[3];
}

// r = G^T s: three values from six, the adjoint of weight_1d.
template <class V>
void weight_grad_1d(const V* s, V* r) {
  const V p1 = s[1] + s[2], m1 = s[1] - s[2], p2 = s[3] + s[4], m2 = s[3] - s[4];
  r[0] = 0.25f * s[0] - p1 * (1.0f / 6.0f) + p2 * (1.0f / 24.0f);
  r[1] = m1 * (-1.0f / 6.0f) + m2 * (1.0f / 12.0f);
  r[2] = (p2 - p1) * (1.0f / 6.0f) + s[5];
}

// Applies the 1-D transform F (N values -> M values) to every column, then to every row, of an
// N x N block: X(k, l) at src[k*src_row + l*src_col]; the M x M result to dst[k*dst_row +
// l*dst_col]. Every tile transform below is one of these: R = T X T^T for T's matrix.
template <int N, int M, class V, void (*F)(const V*, V*)>
void transform_2d(const float* src, int64_t src_row, int64_t src_col, float* dst, int64_t dst_row,
                  int64_t dst_col) {
  V t[M][N];
#pragma GCC unroll 6
  for (int l = 0; l < N; ++l) {
    V c[N], r[M];
#pragma GCC unroll 6
    for (int k = 0; k < N; ++k) c[k] = load<V>(src + k * src_row + l * src_col);
    F(c, r);
#pragma GCC unroll 6
    for (int k = 0; k < M; ++k) t[k][l] = r[k];
  }
#pragma GCC unroll 6
  for (int k = 0; k < M; ++k) {
    V r[M];
    F(t[k], r);
#pragma GCC unroll 6
    for (int l = 0; l < M; ++l) store(dst + k * dst_row + l * dst_col, r[l]);
  }
}

// V = B^T d B for one tile: d(k, l) at src[k*row + l*col]; V(k, l) to dst[(6k + l)*ld].
template <class V>
void input_tile(const float* src, int64_t row, int64_t col, float* dst, int64_t ld) {
  transform_2d<kIn, kIn, V, input_1d<V>>(src, row, col, dst, kIn * ld, ld);
}

// Y = A^T M A for one tile: M(k, l) at src[(6k + l)*ld]; Y(r, j) to dst[r*row + j*col].
template <class V>
void output_tile(const float* src, int64_t ld, float* dst, int64_t row, int64_t col) {
  transform_2d<kIn, kOut, V, output_1d<V>>(src, kIn * ld, ld, dst, row, col);
}

// U = G g G^T for one kernel: g(k, l) at src[(3k + l)*ld_src]; U(k, l) to dst[(6k + l)*ld].
template <class V>
void weight_tile(const float* src, int64_t ld_src, float* dst, int64_t ld) {
  transform_2d<3, kIn, V, weight_1d<V>>(src, 3 * ld_src, ld_src, dst, kIn * ld, ld);
}

// D = A dY A^T for one output-gradient tile: dY(r, j) at src[r*row + j*col]; D(k, l) to dst[(6k +
// l)*ld].
template <class V>
void output_grad_tile(const float* src, int64_t row, int64_t col, float* dst, int64_t ld) {
  transform_2d<kOut, kIn, V, output_grad_1d<V>>(src, row, col, dst, kIn * ld, ld);
}

// dW = G^T M G for one kernel: M(k, l) at src[(6k + l)*ld]; dW(k, l) to dst[(3k + l)*ld_dst].
template <class V>
void weight_grad_tile(const float* src, int64_t ld, float* dst, int64_t ld_dst) {
  transform_2d<kIn, 3, V, weight_grad_1d<V>>(src, kIn * ld, ld, dst, 3 * ld_dst, ld_dst);
}

// body(i, Lanes{}) for i = 0, kLanes, ... while kLanes lanes remain, then body(i, float{}) for the
// rest.
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
    const __m512i lo = _mm512_loadu_si512(kSwapIndex[q].lo),
                  hi = _mm512_loadu_si512(kSwapIndex[q].hi);
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

// GEMM columns (tiles) per chunk: the best of the fixed sizes and memory budgets tried
// (docs/performance.md, 'Winograd').
constexpr int64_t kColumns = 128;

struct Plan {
  int64_t th, tw;  // tiles per image: th x tw
  int64_t wp, wo;  // widths of the padded input plane (4 tw + 2) and of the tiled output (4 tw)
  int64_t ranges;  // the batch is split into this many contiguous ranges, one per thread
  int64_t images, rows;  // a chunk: up to `images` images of a range times `rows` tile rows
  // Pixel q = y W + x of a plane: its position in the padded input plane and in the output plane.
  std::vector<int64_t> in_pixel, out_pixel;

  explicit Plan(const Problem& p) {
    th = (p.height + kOut - 1) / kOut, tw = (p.width + kOut - 1) / kOut;
    wp = kOut * tw + 2, wo = kOut * tw;
    ranges = std::max<int64_t>(1, std::min<int64_t>(num_threads(), p.batch));
    // At least one vector of images; whole images while they fit in kColumns, else bands of rows.
    images = std::min(std::max<int64_t>(kLanes, (kColumns + th * tw - 1) / (th * tw)),
                      (p.batch + ranges - 1) / ranges);
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
  float* u = thread_scratch(ScratchSlot::kWide, static_cast<size_t>(kPositions * ldu));
  parallel_for(w_out, 8, [&](int64_t o0, int64_t o1) {
    float* taps = thread_scratch(ScratchSlot::kStaging,
                                 static_cast<size_t>(9 * w_in));  // (9, w_in): one tap per row
    for (int64_t o = o0; o < o1; ++o) {
      for (int64_t c = 0; c < w_in; ++c)
        for (int k = 0; k < 9; ++k)
          taps[k * w_in + c] = weight[(o * w_in + c) * 9 + (rotate ? 8 - k : k)];
      for_lanes(w_in, [&](int64_t c, auto lanes) {
        weight_tile<decltype(lanes)>(taps + c, w_in, u + o * w_in + c, ldu);
      });
    }
  });
  return u;
}

// buf[(pos[q] - origin) * nb + i] = src[i * stride + q] for images i < nb and pixels q in [q0, q1):
// one channel plane of nb images, `stride` floats apart, to the interleaved (pixel, image) layout.
void interleave(const float* src, int64_t stride, int64_t nb, const int64_t* pos, int64_t q0,
                int64_t q1, int64_t origin, float* buf) {
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
void deinterleave(const Problem& p, const Plan& plan, const float* buf, int64_t b0, int64_t nb,
                  int64_t o, int64_t q0, int64_t q1, int64_t origin, Epilogue e, float* dst) {
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
      for (int r = 0; r < 16; ++r)
        rows[r] = buf + (pos[q + r] - origin) * nb + i0, cols[r] = block[r];
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

// V[xi] (p.in x nb*tiles, channel c's row at v + c * nb*tiles, xi planes ldv apart) = B^T d B for
// the input tiles of images b0..b0+nb-1, tile rows ty0..ty0+rows-1; ibuf holds one channel's band.
void transform_input(const Problem& p, const Plan& plan, const float* src, int64_t b0, int64_t nb,
                     int64_t ty0, int64_t rows, float* v, int64_t ldv, float* ibuf) {
  const int64_t tiles = rows * plan.tw, cols = nb * tiles, row_stride = plan.wp * nb,
                plane = p.height * p.width;
  // Input rows 4 ty0 - 1 .. 4 (ty0 + rows) with the zero border, which is written once:
  // interleave fills the same interior for every channel.
  const int64_t y0 = std::max<int64_t>(0, kOut * ty0 - 1),
                y1 = std::min(p.height, kOut * (ty0 + rows) + 1);
  std::fill(ibuf, ibuf + (kOut * rows + 2) * row_stride, 0.0f);
  for (int64_t c = 0; c < p.in; ++c) {
    interleave(src + (b0 * p.in + c) * plane, p.in * plane, nb, plan.in_pixel.data(), y0 * p.width,
               y1 * p.width, kOut * ty0 * plan.wp, ibuf);
    for (int64_t t = 0; t < tiles; ++t) {
      const float* in = ibuf + (t / plan.tw * kOut * plan.wp + t % plan.tw * kOut) * nb;
      float* out = v + c * cols + t * nb;  // V[xi] column t * nb + i
      for_lanes(nb, [&](int64_t i, auto lanes) {
        input_tile<decltype(lanes)>(in + i, row_stride, nb, out + i, ldv);
      });
    }
  }
}

// Images b0..b0+nb-1, tile rows ty0..ty0+rows-1: transforms, 36 GEMMs, inverse transforms.
// v, mm: V and M; ibuf, obuf: the interleaved input band and output band.
void run_chunk(const Pass& s, const float* src, float* dst, int64_t b0, int64_t nb, int64_t ty0,
               int64_t rows, float* v, float* mm, float* ibuf, float* obuf) {
  const Problem& p = s.p;
  const Plan& plan = s.plan;
  const int64_t tiles = rows * plan.tw, cols = nb * tiles;
  transform_input(p, plan, src, b0, nb, ty0, rows, v, s.ldv, ibuf);
  const int64_t lda = s.trans_u ? p.out : p.in;
  for (int64_t xi = 0; xi < kPositions; ++xi)
    gemm(s.trans_u, false, p.out, cols, p.in, 1.0f, s.u + xi * s.ldu, lda, v + xi * s.ldv, cols,
         0.0f, mm + xi * s.ldm, cols);
  for (int64_t o = 0; o < p.out; ++o) {
    for (int64_t t = 0; t < tiles; ++t) {
      const float* in = mm + o * cols + t * nb;
      float* out = obuf + (t / plan.tw * kOut * plan.wo + t % plan.tw * kOut) * nb;
      for_lanes(nb, [&](int64_t i, auto lanes) {
        output_tile<decltype(lanes)>(in + i, s.ldm, out + i, plan.wo * nb, nb);
      });
    }
    deinterleave(p, plan, obuf, b0, nb, o, kOut * ty0 * p.width,
                 std::min(p.height, kOut * (ty0 + rows)) * p.width, kOut * ty0 * plan.wo, s.e, dst);
  }
}

// dst (+)= the convolution of src: each thread takes one contiguous range of images, in chunks
// fixed by the plan (so the result depends on the thread count only).
void run(const Problem& p, const float* src, const float* u, int64_t ldu, bool trans_u, Epilogue e,
         float* dst) {
  const Plan plan(p);
  const int64_t max_cols = plan.images * plan.rows * plan.tw;
  const Pass s{p, plan, u, ldu, trans_u, e, p.in * max_cols + kSkew, p.out * max_cols + kSkew};
  const int64_t in_buf = (kOut * plan.rows + 2) * plan.wp * plan.images;
  const int64_t out_buf = kOut * plan.rows * plan.wo * plan.images;
  parallel_for(plan.ranges, 1, [&](int64_t r0, int64_t r1) {
    float* v = thread_scratch(ScratchSlot::kColumns, static_cast<size_t>(kPositions * s.ldv));
    float* mm = thread_scratch(ScratchSlot::kProducts, static_cast<size_t>(kPositions * s.ldm));
    float* ibuf = thread_scratch(ScratchSlot::kStaging, static_cast<size_t>(in_buf + out_buf));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t first = p.batch * r / plan.ranges, last = p.batch * (r + 1) / plan.ranges;
      for (int64_t b0 = first; b0 < last; b0 += plan.images)
        for (int64_t ty0 = 0; ty0 < plan.th; ty0 += plan.rows)
          run_chunk(s, src, dst, b0, std::min(plan.images, last - b0), ty0,
                    std::min(plan.rows, plan.th - ty0), v, mm, ibuf, ibuf + in_buf);
    }
  });
}

// The weight gradient (math at the top): per chunk of T tiles the input's V = B^T d B (the
// forward's transform) and the output gradient's D = A dY A^T, then M[xi] += D[xi] V[xi]^T.
struct WeightPass {
  const Problem& p;
  const Plan& plan;
  int64_t ldv, ldd, ldm;  // xi plane strides of V, D and M
};

// D[xi] (p.out x nb*tiles, channel o's row at d + o * nb*tiles, xi planes ldd apart) = A dY A^T
// for the output-gradient tiles of images b0..b0+nb-1, tile rows ty0..ty0+rows-1; obuf holds one
// channel's band.
void transform_output_grad(const Problem& p, const Plan& plan, const float* dy, int64_t b0,
                           int64_t nb, int64_t ty0, int64_t rows, float* d, int64_t ldd,
                           float* obuf) {
  const int64_t tiles = rows * plan.tw, cols = nb * tiles, row_stride = plan.wo * nb,
                plane = p.height * p.width;
  // The zeros of partial tiles beyond the map are written once: interleave fills the same pixels
  // for every channel.
  std::fill(obuf, obuf + kOut * rows * row_stride, 0.0f);
  const int64_t q0 = kOut * ty0 * p.width, q1 = std::min(p.height, kOut * (ty0 + rows)) * p.width;
  for (int64_t o = 0; o < p.out; ++o) {
    interleave(dy + (b0 * p.out + o) * plane, p.out * plane, nb, plan.out_pixel.data(), q0, q1,
               kOut * ty0 * plan.wo, obuf);
    for (int64_t t = 0; t < tiles; ++t) {
      const float* in = obuf + (t / plan.tw * kOut * plan.wo + t % plan.tw * kOut) * nb;
      float* out = d + o * cols + t * nb;
      for_lanes(nb, [&](int64_t i, auto lanes) {
        output_grad_tile<decltype(lanes)>(in + i, row_stride, nb, out + i, ldd);
      });
    }
  }
}

// M += (or, for the range's first chunk, =) the chunk's D V^T at each xi.
void weight_chunk(const WeightPass& s, const float* x, const float* dy, int64_t b0, int64_t nb,
                  int64_t ty0, int64_t rows, bool first, float* v, float* d, float* ibuf,
                  float* obuf, float* m) {
  const Problem& p = s.p;
  const int64_t cols = nb * rows * s.plan.tw;
  transform_input(p, s.plan, x, b0, nb, ty0, rows, v, s.ldv, ibuf);
  transform_output_grad(p, s.plan, dy, b0, nb, ty0, rows, d, s.ldd, obuf);
  for (int64_t xi = 0; xi < kPositions; ++xi)
    gemm(false, true, p.out, p.in, cols, 1.0f, d + xi * s.ldd, cols, v + xi * s.ldv, cols,
         first ? 0.0f : 1.0f, m + xi * s.ldm, p.in);
}

// dw (+)= G^T M G, dw in the (out, in, 3, 3) layout; taps: scratch of 9 * p.in floats.
void transform_weight_grad(const Problem& p, const float* m, int64_t ldm, bool accumulate,
                           float* dw, float* taps) {
  for (int64_t o = 0; o < p.out; ++o) {
    for_lanes(p.in, [&](int64_t c, auto lanes) {
      weight_grad_tile<decltype(lanes)>(m + o * p.in + c, ldm, taps + c, p.in);
    });
    float* dst = dw + o * p.in * 9;
    for (int64_t c = 0; c < p.in; ++c)
      for (int k = 0; k < 9; ++k) {
        const float t = taps[k * p.in + c];
        dst[c * 9 + k] = accumulate ? dst[c * 9 + k] + t : t;
      }
  }
}

void check_geometry(const ConvGeometry& g) {
  LOWBIT_CHECK(winograd3x3_applies(g),
               "winograd3x3: needs a 3x3 kernel, stride 1, padding 1 and one group, got ",
               g.kernel_h, "x", g.kernel_w, " stride ", g.stride, " padding ", g.padding,
               " groups ", g.groups);
  LOWBIT_CHECK(
      g.batch > 0 && g.in_channels > 0 && g.out_channels > 0 && g.height > 0 && g.width > 0,
      "winograd3x3: needs positive sizes, got batch ", g.batch, ", channels ", g.in_channels,
      " -> ", g.out_channels, ", map ", g.height, "x", g.width);
}

}  // namespace

bool winograd3x3_applies(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride == 1 && g.padding == 1 && g.groups == 1;
}

void winograd3x3_forward(const ConvGeometry& g, const float* x, const float* weight,
                         const float* bias, float* y) {
  check_geometry(g);
  const int64_t ldu = g.out_channels * g.in_channels + kSkew;
  const float* u = transform_weights(g, weight, false, ldu);
  run({g.batch, g.in_channels, g.out_channels, g.height, g.width}, x, u, ldu, false, {bias, false},
      y);
}

void winograd3x3_backward_input(const ConvGeometry& g, const float* dy, const float* weight,
                                float* dx, bool overwrite) {
  check_geometry(g);
  const int64_t ldu = g.out_channels * g.in_channels + kSkew;
  const float* u = transform_weights(g, weight, true, ldu);
  run({g.batch, g.out_channels, g.in_channels, g.height, g.width}, dy, u, ldu, true,
      {nullptr, !overwrite}, dx);
}

void winograd3x3_backward_weight(const ConvGeometry& g, const float* x, const float* dy,
                                 float* dweight) {
  check_geometry(g);
  const Problem p{g.batch, g.in_channels, g.out_channels, g.height, g.width};
  const Plan plan(p);
  const int64_t max_cols = plan.images * plan.rows * plan.tw, wsize = p.out * p.in * 9;
  const WeightPass s{p, plan, p.in * max_cols + kSkew, p.out * max_cols + kSkew,
                     p.out * p.in + kSkew};
  const int64_t in_buf = (kOut * plan.rows + 2) * plan.wp * plan.images;
  const int64_t out_buf = kOut * plan.rows * plan.wo * plan.images;
  // Each thread sums M over its ranges' chunks. The thread starting at range 0 adds its dW into
  // dweight; every other thread writes its dW to its own scratch, recorded at its first range
  // (other entries stay null) and added to dweight in range order after: the sums depend on the
  // thread count only.
  std::vector<const float*> partial(static_cast<size_t>(plan.ranges), nullptr);
  parallel_for(plan.ranges, 1, [&](int64_t r0, int64_t r1) {
    float* v = thread_scratch(ScratchSlot::kColumns, static_cast<size_t>(kPositions * s.ldv));
    float* d = thread_scratch(ScratchSlot::kProducts, static_cast<size_t>(kPositions * s.ldd));
    float* ibuf = thread_scratch(ScratchSlot::kStaging, static_cast<size_t>(in_buf + out_buf));
    float* m = thread_scratch(ScratchSlot::kWide, static_cast<size_t>(kPositions * s.ldm + wsize));
    bool first = true;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t begin = p.batch * r / plan.ranges, end = p.batch * (r + 1) / plan.ranges;
      for (int64_t b0 = begin; b0 < end; b0 += plan.images)
        for (int64_t ty0 = 0; ty0 < plan.th; ty0 += plan.rows) {
          weight_chunk(s, x, dy, b0, std::min(plan.images, end - b0), ty0,
                       std::min(plan.rows, plan.th - ty0), first, v, d, ibuf, ibuf + in_buf, m);
          first = false;
        }
    }
    float* dw = r0 == 0 ? dweight : m + kPositions * s.ldm;
    transform_weight_grad(p, m, s.ldm, r0 == 0, dw, v);
    partial[static_cast<size_t>(r0)] = dw;
  });
  for (int64_t r = 1; r < plan.ranges; ++r) {
    const float* dw = partial[static_cast<size_t>(r)];
    if (!dw) continue;
    parallel_for(wsize, 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) dweight[i] += dw[i];
    });
  }
}

}  // namespace lowbit::kernels
