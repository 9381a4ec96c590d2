// im2col / col2im and the chunked GEMM formulation of convolution.
// For group gi and a chunk of nb images with P = H_out*W_out output pixels each:
//   col (K x nb*P), K = C_in/groups * kh * kw, holds the receptive fields side by side;
//   forward:        Y (C_out/g x nb*P) = W_g (C_out/g x K) * col
//   input grad:     dcol (K x nb*P)    = W_g^T * dY,  then col2im adds dcol into dx
//   weight grad:    dW_g (C_out/g x K) += dY * col^T
// conv2d_forward and conv2d_backward_input hand 3x3 stride-1 layers to winograd3x3.h where
// conv2d_uses_winograd says it is faster, conv2d_backward_weight (for dweight) where
// conv2d_backward_weight_uses_winograd does.
#include "layers/kernels/conv2d_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "layers/kernels/gemm.h"
#include "layers/kernels/lane_sum.h"
#include "layers/kernels/scratch.h"
#include "layers/kernels/winograd3x3.h"

namespace lowbit::kernels {
namespace {

struct Plan {
  int64_t pixels;  // P = H_out * W_out
  int64_t k;       // rows of col
  int64_t cin_g, cout_g;
  int64_t chunk;  // images per chunk
  int64_t chunks;
  bool direct;     // 1x1, stride 1, no padding: the input already is the col matrix
  bool padded;     // padding > 0: im2col reads a zero-padded copy of the chunk
  int64_t hp, wp;  // plane read by im2col: (H + 2 pad) x (W + 2 pad)
  // base[q] = oy*stride*wp + ox*stride: where output pixel q's receptive field starts in
  // that plane; tap (ky, kx) adds ky*wp + kx. One table serves every row of col.
  std::vector<int32_t> base;
};

// GEMM columns per chunk: enough for OpenBLAS to reach its full rate on small feature
// maps, small enough that a chunk's column matrix stays a few MB.
constexpr int64_t kTargetColumns = 2048;
// Output rows at least this wide are copied row by row; narrower ones go through the
// gather table (rows of 4 floats make per-row loop overhead dominate). 8 lets LeNet-5's
// 10-wide rows be copied (docs/performance.md, 'im2col row copies').
constexpr int64_t kRowCopyWidth = 8;
// Stride-2 rows at least this wide are copied with a constant-stride loop.
constexpr int64_t kStridedRowWidth = 8;

Plan make_plan(const ConvGeometry& g) {
  Plan p;
  p.pixels = g.out_height() * g.out_width();
  p.cin_g = g.in_channels / g.groups;
  p.cout_g = g.out_channels / g.groups;
  p.k = p.cin_g * g.kernel_h * g.kernel_w;
  // Aim for kTargetColumns GEMM columns per chunk, but keep at least one chunk per thread.
  p.chunk = std::max<int64_t>(
      1, std::min<int64_t>((kTargetColumns + p.pixels - 1) / p.pixels, g.batch / num_threads()));
  p.chunk = std::min(p.chunk, g.batch);
  p.chunks = (g.batch + p.chunk - 1) / p.chunk;
  // Threads take contiguous ranges of chunks: make the count a multiple of the thread count
  // and the chunks even, so no thread waits on another (LeNet-5's 10x10 maps at batch 64
  // gave chunks of 21, 21, 21, 1: 42 images on one thread, 22 on the other).
  const int64_t threads = num_threads();
  if (p.chunks > 1 && threads > 1 && p.chunks % threads != 0) {
    p.chunks = (p.chunks + threads - 1) / threads * threads;
    p.chunk = (g.batch + p.chunks - 1) / p.chunks;
    p.chunks = (g.batch + p.chunk - 1) / p.chunk;
  }
  p.direct = g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0;
  p.padded = g.padding > 0;
  p.hp = g.height + 2 * g.padding;
  p.wp = g.width + 2 * g.padding;
  const int64_t ho = g.out_height(), wo = g.out_width();
  p.base.resize(static_cast<size_t>(p.pixels));
  for (int64_t oy = 0; oy < ho; ++oy)
    for (int64_t ox = 0; ox < wo; ++ox)
      p.base[static_cast<size_t>(oy * wo + ox)] =
          static_cast<int32_t>(oy * g.stride * p.wp + ox * g.stride);
  return p;
}

// Copies the group-gi channels of nb images into xpad (nb, cin_g, hp, wp) with zero borders.
void pad_chunk(const ConvGeometry& g, const Plan& p, const float* x, int64_t nb, int64_t gi,
               float* xpad) {
  const int64_t in_image = g.in_channels * g.height * g.width, pad = g.padding;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t c = 0; c < p.cin_g; ++c) {
      const float* src = x + i * in_image + (gi * p.cin_g + c) * g.height * g.width;
      float* dst = xpad + (i * p.cin_g + c) * p.hp * p.wp;
      std::fill(dst, dst + pad * p.wp, 0.0f);
      for (int64_t y = 0; y < g.height; ++y) {
        float* row = dst + (y + pad) * p.wp;
        for (int64_t j = 0; j < pad; ++j) row[j] = 0.0f, row[pad + g.width + j] = 0.0f;
        std::memcpy(row + pad, src + y * g.width, sizeof(float) * static_cast<size_t>(g.width));
      }
      std::fill(dst + (pad + g.height) * p.wp, dst + p.hp * p.wp, 0.0f);
    }
}

// col[r, i*P + q] = plane(i, c)[ky*wp + kx + base[q]] for r = (c, ky, kx), where the planes
// (hp x wp, `image_stride` floats apart, channel planes hp*wp apart) already hold the padding.
void im2col(const ConvGeometry& g, const Plan& p, const float* planes, int64_t image_stride,
            int64_t nb, float* col, int64_t ld) {
  const int64_t ho = g.out_height(), wo = g.out_width(), plane = p.hp * p.wp;
  const bool rows = g.stride == 1 && wo >= kRowCopyWidth;
  const bool stride2 = g.stride == 2 && wo >= kStridedRowWidth;
  const int32_t* base = p.base.data();
  for (int64_t c = 0; c < p.cin_g; ++c)
    for (int64_t ky = 0; ky < g.kernel_h; ++ky)
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        float* row = col + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        for (int64_t i = 0; i < nb; ++i) {
          const float* src = planes + i * image_stride + c * plane + ky * p.wp + kx;
          float* dst = row + i * p.pixels;
          if (rows) {
            for (int64_t oy = 0; oy < ho; ++oy)
              std::memcpy(dst + oy * wo, src + oy * p.wp, sizeof(float) * static_cast<size_t>(wo));
          } else if (stride2) {
            // A constant stride of 2 vectorizes (two loads and a permute per vector); the
            // gather through `base` does not.
            for (int64_t oy = 0; oy < ho; ++oy) {
              const float* s = src + 2 * oy * p.wp;
              float* d = dst + oy * wo;
              for (int64_t ox = 0; ox < wo; ++ox) d[ox] = s[2 * ox];
            }
          } else {
            for (int64_t q = 0; q < p.pixels; ++q) dst[q] = src[base[q]];
          }
        }
      }
}

// The adjoint of im2col: adds col into the planes (same layout as im2col reads).
void col2im(const ConvGeometry& g, const Plan& p, const float* col, int64_t ld, int64_t nb,
            float* planes, int64_t image_stride) {
  const int64_t ho = g.out_height(), wo = g.out_width(), plane = p.hp * p.wp;
  const bool rows = g.stride == 1 && wo >= kRowCopyWidth;
  const bool stride2 = g.stride == 2 && wo >= kStridedRowWidth;
  const int32_t* base = p.base.data();
  for (int64_t c = 0; c < p.cin_g; ++c)
    for (int64_t ky = 0; ky < g.kernel_h; ++ky)
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const float* row = col + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        for (int64_t i = 0; i < nb; ++i) {
          float* dst = planes + i * image_stride + c * plane + ky * p.wp + kx;
          const float* src = row + i * p.pixels;
          if (rows) {
            for (int64_t oy = 0; oy < ho; ++oy) {
              float* d = dst + oy * p.wp;
              const float* s = src + oy * wo;
              for (int64_t ox = 0; ox < wo; ++ox) d[ox] += s[ox];
            }
          } else if (stride2) {
            for (int64_t oy = 0; oy < ho; ++oy) {
              float* d = dst + 2 * oy * p.wp;
              const float* s = src + oy * wo;
              for (int64_t ox = 0; ox < wo; ++ox) d[2 * ox] += s[ox];
            }
          } else {
            // Distinct q give distinct targets for a fixed tap, so the adds never collide.
            for (int64_t q = 0; q < p.pixels; ++q) dst[base[q]] += src[q];
          }
        }
      }
}

// The chunk's column matrix (K x nb*P) for group gi: im2col into `col`, or, for a direct
// 1x1 convolution of one image, the input block itself. `pad` is scratch for the padded
// copy of the chunk (nb * cin_g * hp * wp floats) when the convolution pads.
const float* chunk_columns(const ConvGeometry& g, const Plan& p, const float* x, int64_t b0,
                           int64_t nb, int64_t gi, float* col, float* pad) {
  const int64_t in_image = g.in_channels * g.height * g.width, cols = nb * p.pixels;
  if (!col) return x + b0 * in_image + gi * p.cin_g * p.pixels;
  if (p.padded) {
    pad_chunk(g, p, x + b0 * in_image, nb, gi, pad);
    im2col(g, p, pad, p.cin_g * p.hp * p.wp, nb, col, cols);
  } else {
    im2col(g, p, x + b0 * in_image + gi * p.cin_g * g.height * g.width, in_image, nb, col, cols);
  }
  return col;
}

// Adds the chunk's dcol (K x nb*P, group gi) into dx (or, with `overwrite`, stores it):
// through a zeroed padded buffer `pad` whose interior then goes to dx, or straight into dx
// when nothing is padded.
void chunk_col2im(const ConvGeometry& g, const Plan& p, const float* dcol, int64_t b0, int64_t nb,
                  int64_t gi, float* dx, float* pad, bool overwrite) {
  const int64_t in_image = g.in_channels * g.height * g.width, cols = nb * p.pixels;
  float* dst = dx + b0 * in_image + gi * p.cin_g * g.height * g.width;
  if (!p.padded) {
    if (overwrite)
      for (int64_t i = 0; i < nb; ++i)
        std::fill(dst + i * in_image, dst + i * in_image + p.cin_g * g.height * g.width, 0.0f);
    col2im(g, p, dcol, cols, nb, dst, in_image);
    return;
  }
  const int64_t plane = p.hp * p.wp;
  std::fill(pad, pad + nb * p.cin_g * plane, 0.0f);
  col2im(g, p, dcol, cols, nb, pad, p.cin_g * plane);
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t c = 0; c < p.cin_g; ++c) {
      const float* src = pad + (i * p.cin_g + c) * plane + g.padding * p.wp + g.padding;
      float* out = dst + i * in_image + c * g.height * g.width;
      for (int64_t y = 0; y < g.height; ++y) {
        if (overwrite) {
          std::memcpy(out + y * g.width, src + y * p.wp,
                      sizeof(float) * static_cast<size_t>(g.width));
        } else {
          for (int64_t x = 0; x < g.width; ++x) out[y * g.width + x] += src[y * p.wp + x];
        }
      }
    }
}

// Floats of the padded-copy scratch a chunk of nb images needs (0 without padding).
size_t pad_size(const Plan& p, int64_t nb) {
  return p.padded ? static_cast<size_t>(nb * p.cin_g * p.hp * p.wp) : 0;
}

// The chunk's output gradient (C_out/g x nb*P) for group gi: gathered from NCHW into
// `buffer`, or, for one image, the tensor's own contiguous block.
const float* chunk_output_grad(const ConvGeometry& g, const Plan& p, const float* dy, int64_t b0,
                               int64_t nb, int64_t gi, float* buffer) {
  const int64_t out_image = g.out_channels * p.pixels, cols = nb * p.pixels;
  if (!buffer) return dy + b0 * out_image + gi * p.cout_g * p.pixels;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t o = 0; o < p.cout_g; ++o)
      std::memcpy(buffer + o * cols + i * p.pixels,
                  dy + (b0 + i) * out_image + (gi * p.cout_g + o) * p.pixels,
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

void conv2d_forward_im2col(const ConvGeometry& g, const float* x, const float* weight,
                           const float* bias, float* y) {
  const Plan p = make_plan(g);
  const int64_t out_image = g.out_channels * p.pixels;
  for_chunk_ranges(p.chunks, [&](int64_t, int64_t c0, int64_t c1) {
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t b0 = chunk * p.chunk, nb = std::min(p.chunk, g.batch - b0),
                    cols = nb * p.pixels;
      float* col = p.direct && nb == 1
                       ? nullptr
                       : thread_scratch(ScratchSlot::kColumns, static_cast<size_t>(p.k * cols));
      float* out =
          nb == 1 ? nullptr
                  : thread_scratch(ScratchSlot::kProducts, static_cast<size_t>(p.cout_g * cols));
      float* pad = col && p.padded ? thread_scratch(ScratchSlot::kWide, pad_size(p, nb)) : nullptr;
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* a = chunk_columns(g, p, x, b0, nb, gi, col, pad);
        const float* w = weight + gi * p.cout_g * p.k;
        if (nb == 1) {
          float* dst = y + b0 * out_image + gi * p.cout_g * p.pixels;
          gemm(false, false, p.cout_g, cols, p.k, 1.0f, w, p.k, a, cols, 0.0f, dst, p.pixels);
        } else {
          gemm(false, false, p.cout_g, cols, p.k, 1.0f, w, p.k, a, cols, 0.0f, out, cols);
          for (int64_t i = 0; i < nb; ++i)
            for (int64_t o = 0; o < p.cout_g; ++o)
              std::memcpy(y + (b0 + i) * out_image + (gi * p.cout_g + o) * p.pixels,
                          out + o * cols + i * p.pixels,
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

void conv2d_backward_input_im2col(const ConvGeometry& g, const float* dy, const float* weight,
                                  float* dx, bool overwrite) {
  const Plan p = make_plan(g);
  const int64_t in_image = g.in_channels * g.height * g.width;
  for_chunk_ranges(p.chunks, [&](int64_t, int64_t c0, int64_t c1) {
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t b0 = chunk * p.chunk, nb = std::min(p.chunk, g.batch - b0),
                    cols = nb * p.pixels;
      float* dcol = thread_scratch(ScratchSlot::kColumns, static_cast<size_t>(p.k * cols));
      float* dyc =
          nb == 1 ? nullptr
                  : thread_scratch(ScratchSlot::kProducts, static_cast<size_t>(p.cout_g * cols));
      float* pad = p.padded ? thread_scratch(ScratchSlot::kWide, pad_size(p, nb)) : nullptr;
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* d = chunk_output_grad(g, p, dy, b0, nb, gi, dyc);
        const float* w = weight + gi * p.cout_g * p.k;
        if (p.direct && nb == 1) {
          // dx block (cin_g x P) is contiguous: accumulate straight into it.
          float* dst = dx + b0 * in_image + gi * p.cin_g * p.pixels;
          gemm(true, false, p.k, cols, p.cout_g, 1.0f, w, p.k, d, cols, overwrite ? 0.0f : 1.0f,
               dst, cols);
          continue;
        }
        gemm(true, false, p.k, cols, p.cout_g, 1.0f, w, p.k, d, cols, 0.0f, dcol, cols);
        chunk_col2im(g, p, dcol, b0, nb, gi, dx, pad, overwrite);
      }
    }
  });
}

// Winograd wherever it beat im2col; it lost with fewer than 8 channels, maps under 4 wide or high
// (which waste most of each 6x6 tile), fewer than 8 images per thread (its transforms' image
// lanes mostly empty) and fewer than 32 tiles per thread (too few GEMM columns for the
// transformed weights read per chunk) (docs/performance.md, 'Winograd dispatch').
bool conv2d_uses_winograd(const ConvGeometry& g) {
  const int64_t images = g.batch / num_threads(), tiles = (g.height + 3) / 4 * ((g.width + 3) / 4);
  return winograd3x3_applies(g) && std::min(g.in_channels, g.out_channels) >= 8 &&
         std::min(g.height, g.width) >= 4 && images >= 8 && images * tiles >= 32;
}

void conv2d_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y) {
  if (conv2d_uses_winograd(g))
    winograd3x3_forward(g, x, weight, bias, y);
  else
    conv2d_forward_im2col(g, x, weight, bias, y);
}

void conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* weight, float* dx) {
  conv2d_backward_input(g, dy, weight, dx, false);
}

void conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* weight, float* dx,
                           bool overwrite) {
  if (conv2d_uses_winograd(g))
    winograd3x3_backward_input(g, dy, weight, dx, overwrite);
  else
    conv2d_backward_input_im2col(g, dy, weight, dx, overwrite);
}

// Winograd's weight gradient wherever it beat im2col (which is slowest on few channels, so unlike
// the forward Winograd wins at any channel count). It lost ("images" per thread) with maps under
// 4 wide or high; fewer than 16 tiles per thread (its M, 36 C_out C_in floats, 4x dW, is written
// and read whatever the tile count); one image per thread (no image lanes at all); and 2 to 15
// images per thread (transforms on scalar lanes) with fewer than 8 input channels or more output
// than input channels (docs/performance.md, 'Winograd weight-gradient dispatch').
bool conv2d_backward_weight_uses_winograd(const ConvGeometry& g) {
  const int64_t images = g.batch / num_threads(), tiles = (g.height + 3) / 4 * ((g.width + 3) / 4);
  const bool lanes =
      images >= 16 || (images >= 2 && g.in_channels >= std::max<int64_t>(8, g.out_channels));
  return winograd3x3_applies(g) && std::min(g.height, g.width) >= 4 && images * tiles >= 16 &&
         lanes;
}

void conv2d_backward_weight(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                            float* dbias) {
  if (!dweight || !conv2d_backward_weight_uses_winograd(g)) {
    conv2d_backward_weight_im2col(g, x, dy, dweight, dbias);
    return;
  }
  winograd3x3_backward_weight(g, x, dy, dweight);
  if (dbias) conv2d_backward_weight_im2col(g, x, dy, nullptr, dbias);
}

void conv2d_backward_weight_im2col(const ConvGeometry& g, const float* x, const float* dy,
                                   float* dweight, float* dbias) {
  const Plan p = make_plan(g);
  const int64_t wsize = g.out_channels * p.k;
  const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(num_threads(), p.chunks));
  // Range 0 accumulates straight into dweight and dbias; every other range into its own
  // zeroed partial (reused scratch of the calling thread), added in range order after.
  const int64_t stride = wsize + g.out_channels;
  float* partial =
      ranges > 1 ? thread_scratch(ScratchSlot::kStaging, static_cast<size_t>((ranges - 1) * stride))
                 : nullptr;
  if (partial) std::fill(partial, partial + (ranges - 1) * stride, 0.0f);
  for_chunk_ranges(p.chunks, [&](int64_t r, int64_t c0, int64_t c1) {
    float* dw = r == 0 ? dweight : partial + (r - 1) * stride;
    float* db = r == 0 ? dbias : partial + (r - 1) * stride + wsize;
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t b0 = chunk * p.chunk, nb = std::min(p.chunk, g.batch - b0),
                    cols = nb * p.pixels;
      // Without dweight (the bias sum beside the Winograd weight gradient) no columns are needed.
      float* col = !dweight || (p.direct && nb == 1)
                       ? nullptr
                       : thread_scratch(ScratchSlot::kColumns, static_cast<size_t>(p.k * cols));
      float* dyc =
          nb == 1 ? nullptr
                  : thread_scratch(ScratchSlot::kProducts, static_cast<size_t>(p.cout_g * cols));
      float* pad = col && p.padded ? thread_scratch(ScratchSlot::kWide, pad_size(p, nb)) : nullptr;
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* d = chunk_output_grad(g, p, dy, b0, nb, gi, dyc);
        if (dweight) {
          const float* a = chunk_columns(g, p, x, b0, nb, gi, col, pad);
          gemm(false, true, p.cout_g, p.k, cols, 1.0f, d, cols, a, cols, 1.0f,
               dw + gi * p.cout_g * p.k, p.k);
        }
        if (dbias) {
          // 16 float lanes, as batch norm's sums: a serial double sum is one chain of dependent
          // adds (docs/performance.md, 'im2col row copies and the bias gradient').
          for (int64_t o = 0; o < p.cout_g; ++o) {
            const float* row = d + o * cols;
            db[gi * p.cout_g + o] += lane_sum(cols, [row](int64_t q) { return row[q]; });
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
