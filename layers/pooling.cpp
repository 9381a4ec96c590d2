// Pooling ops. A stride of 0 means "equal to the kernel".
#include "layers/pooling.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/storage.h"

namespace lowbit {
namespace {

struct PoolGeometry {
  int64_t n, c, h, w, kernel, stride, padding, ho, wo;
};

PoolGeometry pool_geometry(const char* op, const Tensor& x, int64_t kernel, int64_t stride,
                           int64_t padding) {
  LOWBIT_CHECK(x.rank() == 4, op, ": input shape ", x.shape().str(), " should be (N, C, H, W)");
  LOWBIT_CHECK(kernel >= 1, op, ": kernel ", kernel, " must be >= 1");
  if (stride == 0) stride = kernel;
  LOWBIT_CHECK(stride >= 1, op, ": stride ", stride, " must be >= 1");
  LOWBIT_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding ", padding,
               " must be in [0, kernel/2]");
  PoolGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), kernel, stride, padding, 0, 0};
  LOWBIT_CHECK(g.h + 2 * padding >= kernel && g.w + 2 * padding >= kernel, op, ": kernel ", kernel,
               " is larger than the padded input of shape ", x.shape().str());
  g.ho = (g.h + 2 * padding - kernel) / stride + 1;
  g.wo = (g.w + 2 * padding - kernel) / stride + 1;
  return g;
}

// One output row of the 2x2, stride-2 max pool without padding: candidates a b (row r0) over
// c d (row r0 + w); the maximum as std::max would give it, and the offset of the first
// candidate in scan order that equals it (the general loop's choice), written with
// comparisons and integer arithmetic rather than branches (which mispredict on every other
// window of random data):
//   offset = !ea (eb ? 1 : ec ? w : w + 1) = (1 - ea) (o3 + eb (1 - o3)),  o3 = w + 1 - ec.
// Eight outputs at a time: 16 input floats per row, deinterleaved into even (a, c) and odd
// (b, d) columns. A row of 8 or more outputs ends with a block that overlaps the one before
// (recomputing a few outputs the same way); shorter rows take the scalar loop.
typedef float Floats8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t Ints8 __attribute__((vector_size(8 * sizeof(int32_t))));

template <class V>
V load_unaligned(const void* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void max_pool_2x2_row(const float* r0, int64_t w, int64_t wo, int32_t row_offset, float* out,
                      int32_t* arg) {
  const float* r1 = r0 + w;
  const int32_t w32 = static_cast<int32_t>(w);
  auto scalar = [&](int64_t ox) {
    const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
    const float best = std::max(std::max(a, b), std::max(c, d));
    const int32_t ea = a == best, eb = b == best, ec = c == best;
    const int32_t o3 = w32 + 1 - ec;
    out[ox] = best;
    arg[ox] = row_offset + static_cast<int32_t>(2 * ox) + (1 - ea) * (o3 + eb * (1 - o3));
  };
  if (wo < 8) {
    for (int64_t ox = 0; ox < wo; ++ox) scalar(ox);
    return;
  }
  const Ints8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  // The even and the odd columns of two rows of 16: __builtin_shufflevector takes its lanes as
  // constants, and both GCC (12 on) and clang have it (GCC's __builtin_shuffle is GCC's alone).
  auto evens = [](Floats8 x, Floats8 y) {
    return __builtin_shufflevector(x, y, 0, 2, 4, 6, 8, 10, 12, 14);
  };
  auto odds = [](Floats8 x, Floats8 y) {
    return __builtin_shufflevector(x, y, 1, 3, 5, 7, 9, 11, 13, 15);
  };
  auto block = [&](int64_t ox) {
    const Floats8 top0 = load_unaligned<Floats8>(r0 + 2 * ox),
                  top1 = load_unaligned<Floats8>(r0 + 2 * ox + 8);
    const Floats8 bot0 = load_unaligned<Floats8>(r1 + 2 * ox),
                  bot1 = load_unaligned<Floats8>(r1 + 2 * ox + 8);
    const Floats8 a = evens(top0, top1), b = odds(top0, top1);
    const Floats8 c = evens(bot0, bot1), d = odds(bot0, bot1);
    // std::max(x, y) is (x < y) ? y : x, NaN included.
    const Floats8 ab = a < b ? b : a, cd = c < d ? d : c;
    const Floats8 best = ab < cd ? cd : ab;
    // Vector comparisons give -1 for true: negate for 0/1.
    const Ints8 ea = -(a == best), eb = -(b == best), ec = -(c == best);
    const Ints8 o3 = w32 + 1 - ec;
    const Ints8 index =
        row_offset + static_cast<int32_t>(2 * ox) + 2 * lane + (1 - ea) * (o3 + eb * (1 - o3));
    std::memcpy(out + ox, &best, sizeof best);
    std::memcpy(arg + ox, &index, sizeof index);
  };
  int64_t ox = 0;
  for (; ox + 8 <= wo; ox += 8) block(ox);
  if (ox < wo) block(wo - 8);
}

// The max pool's backward: each output's gradient goes to the input its argmax (in-plane index)
// names. dy, argmax: (N*C, H_out*W_out); dx: (N*C, H*W), added into, or with `overwrite` zeroed
// first (plane by plane, in parallel and in cache) so that it may be uninitialized.
void max_pool2d_backward(const PoolGeometry& g, const float* dy, const int32_t* argmax, float* dx,
                         bool overwrite) {
  const int64_t per_plane = g.ho * g.wo;
  parallel_for(g.n * g.c, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      float* d = dx + plane * g.h * g.w;
      if (overwrite) std::fill(d, d + g.h * g.w, 0.0f);
      const float* dyp = dy + plane * per_plane;
      const int32_t* arg = argmax + plane * per_plane;
      for (int64_t q = 0; q < per_plane; ++q) d[arg[q]] += dyp[q];
    }
  });
}

// Global average pooling's backward: dx[p][i] = dy[p] / area for every plane p and its `area`
// inputs; added into dx, or with `overwrite` assigned.
void global_avg_pool_backward(int64_t planes, int64_t area, const float* dy, float* dx,
                              bool overwrite) {
  parallel_for(planes, 64, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float v = dy[p] / static_cast<float>(area);
      if (overwrite) {
        for (int64_t i = 0; i < area; ++i) dx[p * area + i] = v;
      } else {
        for (int64_t i = 0; i < area; ++i) dx[p * area + i] += v;
      }
    }
  });
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry("max_pool2d", x, kernel, stride, padding);
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  // The in-plane index of each output's maximum, for the backward. It lives in pooled
  // storage (int32 in float-sized slots): a fresh vector each step would pay first-touch
  // page faults that cost more than the pooling itself.
  static_assert(sizeof(int32_t) == sizeof(float), "argmax shares float storage");
  auto argmax_storage = std::make_shared<Storage>(static_cast<size_t>(y.numel()));
  int32_t* argmax = reinterpret_cast<int32_t*>(argmax_storage->data());
  const float* px = x.data();
  float* py = y.data();
  // Without padding every window lies inside the plane: no bounds checks.
  const bool inside = g.padding == 0;
  parallel_for(g.n * g.c, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const float* in = px + plane * g.h * g.w;
      float* out = py + plane * g.ho * g.wo;
      int32_t* arg = argmax + plane * g.ho * g.wo;
      if (inside && g.kernel == 2 && g.stride == 2) {  // the common 2x2 pool, vectorized
        for (int64_t oy = 0; oy < g.ho; ++oy) {
          max_pool_2x2_row(in + 2 * oy * g.w, g.w, g.wo, static_cast<int32_t>(2 * oy * g.w),
                           out + oy * g.wo, arg + oy * g.wo);
        }
        continue;
      }
      for (int64_t oy = 0; oy < g.ho; ++oy) {
        for (int64_t ox = 0; ox < g.wo; ++ox) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t best_index = -1;
          const int64_t y0 = oy * g.stride - g.padding, x0 = ox * g.stride - g.padding;
          if (inside) {
            best_index = y0 * g.w + x0;
            best = in[best_index];
            for (int64_t ky = 0; ky < g.kernel; ++ky)
              for (int64_t kx = 0; kx < g.kernel; ++kx) {
                const int64_t i = (y0 + ky) * g.w + x0 + kx;
                if (in[i] > best) best = in[i], best_index = i;
              }
          } else {
            for (int64_t ky = 0; ky < g.kernel; ++ky) {
              const int64_t iy = y0 + ky;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kernel; ++kx) {
                const int64_t ix = x0 + kx;
                if (ix < 0 || ix >= g.w) continue;
                const float v = in[iy * g.w + ix];
                if (v > best || best_index < 0) best = v, best_index = iy * g.w + ix;
              }
            }
          }
          out[oy * g.wo + ox] = best;
          arg[oy * g.wo + ox] = static_cast<int32_t>(best_index);
        }
      }
    }
  });
  record(y, "max_pool2d", {x}, [x, argmax_storage, g](const Tensor& out) {
    bool fresh = false;  // a fresh dx is zeroed by the kernel
    float* dx = x.grad_for_write(fresh);
    max_pool2d_backward(g, out.grad(), reinterpret_cast<const int32_t*>(argmax_storage->data()), dx,
                        fresh);
  });
  return y;
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry("avg_pool2d", x, kernel, stride, padding);
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  const float inv_area = 1.0f / static_cast<float>(g.kernel * g.kernel);
  const float* px = x.data();
  float* py = y.data();
  // Visits (output index, input index) of every in-bounds window element of a plane.
  auto for_window = [g](int64_t oy, int64_t ox, auto&& f) {
    for (int64_t ky = 0; ky < g.kernel; ++ky) {
      const int64_t iy = oy * g.stride - g.padding + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int64_t kx = 0; kx < g.kernel; ++kx) {
        const int64_t ix = ox * g.stride - g.padding + kx;
        if (ix >= 0 && ix < g.w) f(iy * g.w + ix);
      }
    }
  };
  parallel_for(g.n * g.c, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const float* in = px + plane * g.h * g.w;
      for (int64_t oy = 0; oy < g.ho; ++oy)
        for (int64_t ox = 0; ox < g.wo; ++ox) {
          float s = 0.0f;
          for_window(oy, ox, [&](int64_t i) { s += in[i]; });
          py[(plane * g.ho + oy) * g.wo + ox] = s * inv_area;
        }
    }
  });
  record(y, "avg_pool2d", {x}, [x, g, inv_area, for_window](const Tensor& out) {
    const float* dy = out.grad();
    float* dx = x.grad();
    parallel_for(g.n * g.c, 4, [&](int64_t p0, int64_t p1) {
      for (int64_t plane = p0; plane < p1; ++plane) {
        float* d = dx + plane * g.h * g.w;
        for (int64_t oy = 0; oy < g.ho; ++oy)
          for (int64_t ox = 0; ox < g.wo; ++ox) {
            const float v = dy[(plane * g.ho + oy) * g.wo + ox] * inv_area;
            for_window(oy, ox, [&](int64_t i) { d[i] += v; });
          }
      }
    });
  });
  return y;
}

Tensor global_avg_pool(const Tensor& x) {
  LOWBIT_CHECK(x.rank() == 4, "global_avg_pool: input shape ", x.shape().str(),
               " should be (N, C, H, W)");
  const int64_t planes = x.size(0) * x.size(1), area = x.size(2) * x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1)});
  const float* px = x.data();
  float* py = y.data();
  parallel_for(planes, 64, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float s = 0.0f;
      for (int64_t i = 0; i < area; ++i) s += px[p * area + i];
      py[p] = s / static_cast<float>(area);
    }
  });
  record(y, "global_avg_pool", {x}, [x, planes, area](const Tensor& out) {
    bool fresh = false;
    float* dx = x.grad_for_write(fresh);
    global_avg_pool_backward(planes, area, out.grad(), dx, fresh);
  });
  return y;
}

}  // namespace lowbit
