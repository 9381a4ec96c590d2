// im2col / col2im and the chunked GEMM formulation of convolution.
// For group gi and a chunk of nb images with P = H_out*W_out output pixels each:
//   col (K x nb*P), K = C_in/groups * kh * kw, holds the receptive fields side by side;
//   forward:        Y (C_out/g x nb*P) = W_g (C_out/g x K) * col
//   input grad:     dcol (K x nb*P)    = W_g^T * dY,  then col2im adds dcol into dx
//   weight grad:    dW_g (C_out/g x K) += dY * col^T
#include "layers/kernels/conv2d_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "layers/kernels/scratch.h"
#include "layers/kernels/gemm.h"

namespace lowbit::kernels {
namespace {

struct Plan {
  int64_t pixels;      // P = H_out * W_out
  int64_t k;           // rows of col
  int64_t cin_g, cout_g;
  int64_t chunk;       // images per chunk
  int64_t chunks;
  bool direct;         // 1x1, stride 1, no padding: the input already is the col matrix
};

// GEMM columns per chunk: enough for OpenBLAS to reach its full rate on small feature
// maps, small enough that a chunk's column matrix stays a few MB.
constexpr int64_t kTargetColumns = 2048;

Plan make_plan(const ConvGeometry& g) {
  Plan p;
  p.pixels = g.out_height() * g.out_width();
  p.cin_g = g.in_channels / g.groups;
  p.cout_g = g.out_channels / g.groups;
  p.k = p.cin_g * g.kernel_h * g.kernel_w;
  // Aim for >= 512 GEMM columns per chunk, but keep at least one chunk per thread.
  p.chunk = std::max<int64_t>(1, std::min<int64_t>((kTargetColumns + p.pixels - 1) / p.pixels, g.batch / num_threads()));
  p.chunk = std::min(p.chunk, g.batch);
  p.chunks = (g.batch + p.chunk - 1) / p.chunk;
  p.direct = g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0;
  return p;
}

// col[r, i*P + q] for image i of the chunk (channels of group gi only); ld = nb * P.
void im2col(const ConvGeometry& g, const Plan& p, const float* image, int64_t gi, float* col, int64_t ld) {
  const int64_t ho = g.out_height(), wo = g.out_width();
  for (int64_t c = 0; c < p.cin_g; ++c) {
    const float* plane = image + (gi * p.cin_g + c) * g.height * g.width;
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        float* row = col + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        for (int64_t oy = 0; oy < ho; ++oy) {
          const int64_t iy = oy * g.stride - g.padding + ky;
          float* out = row + oy * wo;
          if (iy < 0 || iy >= g.height) {
            std::fill(out, out + wo, 0.0f);
            continue;
          }
          const float* in = plane + iy * g.width;
          if (g.stride == 1) {
            // Valid ox range: 0 <= ox - pad + kx < width.
            const int64_t lo = std::clamp<int64_t>(g.padding - kx, 0, wo);
            const int64_t hi = std::clamp<int64_t>(g.width + g.padding - kx, lo, wo);
            // Plain loops, not memcpy/fill: rows of 4-32 floats make call overhead dominate.
            const float* src = in - g.padding + kx;
            for (int64_t ox = 0; ox < lo; ++ox) out[ox] = 0.0f;
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = src[ox];
            for (int64_t ox = hi; ox < wo; ++ox) out[ox] = 0.0f;
          } else {
            for (int64_t ox = 0; ox < wo; ++ox) {
              const int64_t ix = ox * g.stride - g.padding + kx;
              out[ox] = (ix >= 0 && ix < g.width) ? in[ix] : 0.0f;
            }
          }
        }
      }
    }
  }
}

// The adjoint of im2col: adds col back into the image's channels of group gi.
void col2im(const ConvGeometry& g, const Plan& p, const float* col, int64_t ld, int64_t gi, float* image) {
  const int64_t ho = g.out_height(), wo = g.out_width();
  for (int64_t c = 0; c < p.cin_g; ++c) {
    float* plane = image + (gi * p.cin_g + c) * g.height * g.width;
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const float* row = col + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        for (int64_t oy = 0; oy < ho; ++oy) {
          const int64_t iy = oy * g.stride - g.padding + ky;
          if (iy < 0 || iy >= g.height) continue;
          float* out = plane + iy * g.width;
          const float* in = row + oy * wo;
          if (g.stride == 1) {
            const int64_t lo = std::clamp<int64_t>(g.padding - kx, 0, wo);
            const int64_t hi = std::clamp<int64_t>(g.width + g.padding - kx, lo, wo);
            float* o = out - g.padding + kx;
            for (int64_t ox = lo; ox < hi; ++ox) o[ox] += in[ox];
          } else {
            for (int64_t ox = 0; ox < wo; ++ox) {
              const int64_t ix = ox * g.stride - g.padding + kx;
              if (ix >= 0 && ix < g.width) out[ix] += in[ox];
            }
          }
        }
      }
    }
  }
}

// The chunk's column matrix (K x nb*P) for group gi: im2col into `col`, or, for a direct
// 1x1 convolution of one image, the input block itself.
const float* chunk_columns(const ConvGeometry& g, const Plan& p, const float* x, int64_t b0, int64_t nb, int64_t gi,
                           float* col) {
  const int64_t in_image = g.in_channels * g.height * g.width, cols = nb * p.pixels;
  if (!col) return x + b0 * in_image + gi * p.cin_g * p.pixels;
  for (int64_t i = 0; i < nb; ++i) im2col(g, p, x + (b0 + i) * in_image, gi, col + i * p.pixels, cols);
  return col;
}

// The chunk's output gradient (C_out/g x nb*P) for group gi: gathered from NCHW into
// `buffer`, or, for one image, the tensor's own contiguous block.
const float* chunk_output_grad(const ConvGeometry& g, const Plan& p, const float* dy, int64_t b0, int64_t nb,
                               int64_t gi, float* buffer) {
  const int64_t out_image = g.out_channels * p.pixels, cols = nb * p.pixels;
  if (!buffer) return dy + b0 * out_image + gi * p.cout_g * p.pixels;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t o = 0; o < p.cout_g; ++o)
      std::memcpy(buffer + o * cols + i * p.pixels, dy + (b0 + i) * out_image + (gi * p.cout_g + o) * p.pixels,
                  sizeof(float) * static_cast<size_t>(p.pixels));
  return buffer;
}

// Runs body(thread, first_chunk, end_chunk) with the chunks split into contiguous,
// thread-count-determined ranges; returns the number of ranges.
template <class Body>
int64_t for_chunk_ranges(int64_t chunks, Body body) {
  const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(num_threads(), chunks));
  parallel_for(ranges, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) body(r, chunks * r / ranges, chunks * (r + 1) / ranges);
  });
  return ranges;
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  const Plan p = make_plan(g);
  const int64_t out_image = g.out_channels * p.pixels;
  for_chunk_ranges(p.chunks, [&](int64_t, int64_t c0, int64_t c1) {
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t b0 = chunk * p.chunk, nb = std::min(p.chunk, g.batch - b0), cols = nb * p.pixels;
      float* col = p.direct && nb == 1 ? nullptr : thread_scratch(0, static_cast<size_t>(p.k * cols));
      float* out = nb == 1 ? nullptr : thread_scratch(1, static_cast<size_t>(p.cout_g * cols));
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* a = chunk_columns(g, p, x, b0, nb, gi, col);
        const float* w = weight + gi * p.cout_g * p.k;
        if (nb == 1) {
          float* dst = y + b0 * out_image + gi * p.cout_g * p.pixels;
          gemm(false, false, p.cout_g, cols, p.k, 1.0f, w, p.k, a, cols, 0.0f, dst, p.pixels);
        } else {
          gemm(false, false, p.cout_g, cols, p.k, 1.0f, w, p.k, a, cols, 0.0f, out, cols);
          for (int64_t i = 0; i < nb; ++i)
            for (int64_t o = 0; o < p.cout_g; ++o)
              std::memcpy(y + (b0 + i) * out_image + (gi * p.cout_g + o) * p.pixels, out + o * cols + i * p.pixels,
                          sizeof(float) * static_cast<size_t>(p.pixels));
        }
      }
      if (bias) {
        for (int64_t i = 0; i < nb; ++i)
          for (int64_t o = 0; o < g.out_channels; ++o) {
            float* dst = y + (b0 + i) * out_image + o * p.pixels;
            for (int64_t q = 0; q < p.pixels; ++q) dst[q] += bias[o];
          }
      }
    }
  });
}

void conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* weight, float* dx) {
  const Plan p = make_plan(g);
  const int64_t in_image = g.in_channels * g.height * g.width;
  for_chunk_ranges(p.chunks, [&](int64_t, int64_t c0, int64_t c1) {
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t b0 = chunk * p.chunk, nb = std::min(p.chunk, g.batch - b0), cols = nb * p.pixels;
      float* dcol = thread_scratch(0, static_cast<size_t>(p.k * cols));
      float* dyc = nb == 1 ? nullptr : thread_scratch(1, static_cast<size_t>(p.cout_g * cols));
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* d = chunk_output_grad(g, p, dy, b0, nb, gi, dyc);
        const float* w = weight + gi * p.cout_g * p.k;
        if (p.direct && nb == 1) {
          // dx block (cin_g x P) is contiguous: accumulate straight into it.
          float* dst = dx + b0 * in_image + gi * p.cin_g * p.pixels;
          gemm(true, false, p.k, cols, p.cout_g, 1.0f, w, p.k, d, cols, 1.0f, dst, cols);
          continue;
        }
        gemm(true, false, p.k, cols, p.cout_g, 1.0f, w, p.k, d, cols, 0.0f, dcol, cols);
        for (int64_t i = 0; i < nb; ++i) col2im(g, p, dcol + i * p.pixels, cols, gi, dx + (b0 + i) * in_image);
      }
    }
  });
}

void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight, float* dbias) {
  const Plan p = make_plan(g);
  const int64_t wsize = g.out_channels * p.k;
  const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(num_threads(), p.chunks));
  // Range 0 accumulates straight into dweight and dbias; every other range into its own
  // zeroed partial (reused scratch of the calling thread), added in range order after.
  const int64_t stride = wsize + g.out_channels;
  float* partial = ranges > 1 ? thread_scratch(2, static_cast<size_t>((ranges - 1) * stride)) : nullptr;
  if (partial) std::fill(partial, partial + (ranges - 1) * stride, 0.0f);
  for_chunk_ranges(p.chunks, [&](int64_t r, int64_t c0, int64_t c1) {
    float* dw = r == 0 ? dweight : partial + (r - 1) * stride;
    float* db = r == 0 ? dbias : partial + (r - 1) * stride + wsize;
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t b0 = chunk * p.chunk, nb = std::min(p.chunk, g.batch - b0), cols = nb * p.pixels;
      float* col = p.direct && nb == 1 ? nullptr : thread_scratch(0, static_cast<size_t>(p.k * cols));
      float* dyc = nb == 1 ? nullptr : thread_scratch(1, static_cast<size_t>(p.cout_g * cols));
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* a = chunk_columns(g, p, x, b0, nb, gi, col);
        const float* d = chunk_output_grad(g, p, dy, b0, nb, gi, dyc);
        if (dweight) gemm(false, true, p.cout_g, p.k, cols, 1.0f, d, cols, a, cols, 1.0f, dw + gi * p.cout_g * p.k, p.k);
        if (dbias) {
          for (int64_t o = 0; o < p.cout_g; ++o) {
            double s = 0.0;
            for (int64_t q = 0; q < cols; ++q) s += d[o * cols + q];
            db[gi * p.cout_g + o] += static_cast<float>(s);
          }
        }
      }
    }
  });
  for (int64_t r = 1; r < ranges; ++r) {
    const float* dw = partial + (r - 1) * stride;
    if (dweight)
      for (int64_t i = 0; i < wsize; ++i) dweight[i] += dw[i];
    if (dbias)
      for (int64_t o = 0; o < g.out_channels; ++o) dbias[o] += dw[wsize + o];
  }
}

}  // namespace lowbit::kernels
