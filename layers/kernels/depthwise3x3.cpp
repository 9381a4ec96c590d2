// Depthwise 3x3 kernels. Each plane is copied into a zero-bordered (H+2) x (W+2) buffer so
// the inner loops have no boundary tests and vectorize.
#include "layers/kernels/depthwise3x3.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "layers/kernels/lane_sum.h"  // kLanes
#include "layers/kernels/scratch.h"

namespace lowbit::kernels {
namespace {

int64_t out_size(int64_t size, int64_t stride) {
  return (size - 1) / stride + 1;
}  // (size + 2 - 3) / s + 1

// Copies a plane into the padded buffer (border zeroed).
void pad_plane(const float* src, int64_t h, int64_t w, float* dst) {
  const int64_t pw = w + 2;
  std::fill(dst, dst + pw, 0.0f);
  for (int64_t i = 0; i < h; ++i) {
    float* row = dst + (i + 1) * pw;
    row[0] = 0.0f;
    std::memcpy(row + 1, src + i * w, sizeof(float) * static_cast<size_t>(w));
    row[w + 1] = 0.0f;
  }
  std::fill(dst + (h + 1) * pw, dst + (h + 2) * pw, 0.0f);
}

constexpr int64_t kGrainPlanes = 4;

// kLanes floats as one value (GCC/Clang vector extension): with -march=native one AVX-512
// register, otherwise split by the compiler into narrower ones. Loads go through memcpy, so
// any alignment is fine.
typedef float LaneVector __attribute__((vector_size(kLanes * sizeof(float))));

LaneVector load_lanes(const float* p) {
  LaneVector v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The lanes' sum, lane 0 first (a fixed order: results do not depend on the machine).
float fold_lanes(const LaneVector& v) {
  float s = 0.0f;
  for (int j = 0; j < kLanes; ++j) s += v[j];
  return s;
}

}  // namespace

bool depthwise3x3_applies(const ConvGeometry& g) {
  return g.groups == g.in_channels && g.in_channels == g.out_channels && g.kernel_h == 3 &&
         g.kernel_w == 3 && g.padding == 1 && (g.stride == 1 || g.stride == 2);
}

void depthwise3x3_forward(const ConvGeometry& g, const float* x, const float* weight,
                          const float* bias, float* y) {
  const int64_t n = g.batch, c = g.in_channels, h = g.height, w = g.width, stride = g.stride;
  const int64_t ho = out_size(h, stride), wo = out_size(w, stride), pw = w + 2;
  parallel_for(n * c, kGrainPlanes, [&](int64_t p0, int64_t p1) {
    float* padded = thread_scratch(ScratchSlot::kWide, static_cast<size_t>((h + 2) * pw));
    for (int64_t plane = p0; plane < p1; ++plane) {
      const int64_t ch = plane % c;
      const float* k = weight + ch * 9;
      const float b = bias ? bias[ch] : 0.0f;
      pad_plane(x + plane * h * w, h, w, padded);
      float* out = y + plane * ho * wo;
      for (int64_t oy = 0; oy < ho; ++oy) {
        const float* r0 = padded + oy * stride * pw;
        const float* r1 = r0 + pw;
        const float* r2 = r1 + pw;
        float* o = out + oy * wo;
        if (stride == 1) {
          for (int64_t ox = 0; ox < wo; ++ox) {
            o[ox] = b + k[0] * r0[ox] + k[1] * r0[ox + 1] + k[2] * r0[ox + 2] + k[3] * r1[ox] +
                    k[4] * r1[ox + 1] + k[5] * r1[ox + 2] + k[6] * r2[ox] + k[7] * r2[ox + 1] +
                    k[8] * r2[ox + 2];
          }
        } else {
          for (int64_t ox = 0; ox < wo; ++ox) {
            const int64_t ix = ox * stride;
            o[ox] = b + k[0] * r0[ix] + k[1] * r0[ix + 1] + k[2] * r0[ix + 2] + k[3] * r1[ix] +
                    k[4] * r1[ix + 1] + k[5] * r1[ix + 2] + k[6] * r2[ix] + k[7] * r2[ix + 1] +
                    k[8] * r2[ix + 2];
          }
        }
      }
    }
  });
}

void depthwise3x3_backward_input(const ConvGeometry& g, const float* dy, const float* weight,
                                 float* dx) {
  const int64_t n = g.batch, c = g.in_channels, h = g.height, w = g.width, stride = g.stride;
  const int64_t ho = out_size(h, stride), wo = out_size(w, stride), pw = w + 2;
  parallel_for(n * c, kGrainPlanes, [&](int64_t p0, int64_t p1) {
    float* padded = thread_scratch(ScratchSlot::kWide, static_cast<size_t>((h + 2) * pw));
    for (int64_t plane = p0; plane < p1; ++plane) {
      const float* k = weight + (plane % c) * 9;
      float* out = dx + plane * h * w;
      if (stride == 1) {
        // Gather form: dx[i][j] = sum_{a,b} k[2-a][2-b] * dy_padded[i+a][j+b], the forward
        // loop with the kernel flipped, which vectorizes like the forward.
        pad_plane(dy + plane * ho * wo, ho, wo, padded);
        for (int64_t i = 0; i < h; ++i) {
          const float* r0 = padded + i * pw;
          const float* r1 = r0 + pw;
          const float* r2 = r1 + pw;
          float* o = out + i * w;
          for (int64_t j = 0; j < w; ++j) {
            o[j] += k[8] * r0[j] + k[7] * r0[j + 1] + k[6] * r0[j + 2] + k[5] * r1[j] +
                    k[4] * r1[j + 1] + k[3] * r1[j + 2] + k[2] * r2[j] + k[1] * r2[j + 1] +
                    k[0] * r2[j + 2];
          }
        }
        continue;
      }
      std::fill(padded, padded + (h + 2) * pw, 0.0f);
      const float* d = dy + plane * ho * wo;
      // Scatter: padded[oy*s + ky][ox*s + kx] += k[ky][kx] * dy[oy][ox].
      for (int64_t oy = 0; oy < ho; ++oy) {
        const float* drow = d + oy * wo;
        for (int64_t ky = 0; ky < 3; ++ky) {
          float* prow = padded + (oy * stride + ky) * pw;
          for (int64_t kx = 0; kx < 3; ++kx) {
            const float kv = k[ky * 3 + kx];
            for (int64_t ox = 0; ox < wo; ++ox) prow[ox * stride + kx] += kv * drow[ox];
          }
        }
      }
      for (int64_t i = 0; i < h; ++i) {
        const float* prow = padded + (i + 1) * pw + 1;
        float* orow = out + i * w;
        for (int64_t j = 0; j < w; ++j) orow[j] += prow[j];
      }
    }
  });
}

void depthwise3x3_backward_weight(const ConvGeometry& g, const float* x, const float* dy,
                                  float* dweight, float* dbias) {
  const int64_t n = g.batch, c = g.in_channels, h = g.height, w = g.width, stride = g.stride;
  const int64_t ho = out_size(h, stride), wo = out_size(w, stride), pw = w + 2;
  parallel_for(c, 1, [&](int64_t c0, int64_t c1) {
    float* padded = thread_scratch(ScratchSlot::kWide, static_cast<size_t>((h + 2) * pw));
    // Per channel of this thread: nine tap sums and the bias sum, in double. Images run in
    // the outer loop so that the planes (b, c0..c1) are read in memory order: a channel-major
    // walk jumps C planes between reads, and the prefetcher never catches up.
    std::vector<double> sums(static_cast<size_t>((c1 - c0) * 10), 0.0);
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        double* acc = sums.data() + (ch - c0) * 10;
        double& bias_acc = acc[9];
        const int64_t plane = b * c + ch;
        pad_plane(x + plane * h * w, h, w, padded);
        const float* d = dy + plane * ho * wo;
        // Nine tap accumulators and the bias's, each a vector of kLanes partial sums held in
        // registers across the whole plane: one load of dy feeds ten multiply-adds. (Arrays
        // of lanes indexed in a loop stayed in memory: a store and a reload per tap.)
        LaneVector a0{}, a1{}, a2{}, a3{}, a4{}, a5{}, a6{}, a7{}, a8{}, ab{};
        float tail[9] = {};
        float bias_tail = 0.0f;
        const int64_t body = stride == 1 ? wo / kLanes * kLanes : 0;
        for (int64_t oy = 0; oy < ho; ++oy) {
          const float* drow = d + oy * wo;
          const float* r0 = padded + oy * stride * pw;
          const float* r1 = r0 + pw;
          const float* r2 = r1 + pw;
          for (int64_t ox = 0; ox < body; ox += kLanes) {
            const LaneVector dv = load_lanes(drow + ox);
            a0 += load_lanes(r0 + ox) * dv, a1 += load_lanes(r0 + ox + 1) * dv,
                a2 += load_lanes(r0 + ox + 2) * dv;
            a3 += load_lanes(r1 + ox) * dv, a4 += load_lanes(r1 + ox + 1) * dv,
                a5 += load_lanes(r1 + ox + 2) * dv;
            a6 += load_lanes(r2 + ox) * dv, a7 += load_lanes(r2 + ox + 1) * dv,
                a8 += load_lanes(r2 + ox + 2) * dv;
            ab += dv;
          }
          for (int64_t ox = body; ox < wo; ++ox) {
            const float dv = drow[ox];
            const int64_t ix = ox * stride;
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) tail[ky * 3 + kx] += (r0 + ky * pw)[ix + kx] * dv;
            bias_tail += dv;
          }
        }
        // Lanes are folded once per image, in a fixed order, into doubles.
        const LaneVector* taps[9] = {&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, &a8};
        for (int k = 0; k < 9; ++k) acc[k] += tail[k] + fold_lanes(*taps[k]);
        bias_acc += bias_tail + fold_lanes(ab);
      }
    }
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double* acc = sums.data() + (ch - c0) * 10;
      if (dweight)
        for (int i = 0; i < 9; ++i) dweight[ch * 9 + i] += static_cast<float>(acc[i]);
      if (dbias) dbias[ch] += static_cast<float>(acc[9]);
    }
  });
}

}  // namespace lowbit::kernels
