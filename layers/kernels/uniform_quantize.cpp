// Uniform quantization kernels (FAT eq. 1-9, 13-23): symmetric and asymmetric grids, their
// straight-through backward, int32 bias codes. Work is split into blocks of one channel row
// (at most kChunk values), so channels of any size and per-tensor thresholds both run in parallel;
// the threshold gradients are summed per block in 16 float lanes (lane_sum), then over blocks in
// double in a fixed order, so results do not depend on the thread count.
#include "layers/kernels/uniform_quantize.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "core/parallel.h"
#include "layers/kernels/lane_sum.h"

namespace lowbit::kernels {
namespace {

constexpr int64_t kChunk = 4096;         // values per block (within one channel row)
constexpr int64_t kGrainValues = 16384;  // the least work worth a thread

struct Blocks {
  int64_t rows, channels, inner, per_row;
  int64_t count() const { return rows * per_row; }
  int64_t grain() const { return std::max<int64_t>(1, kGrainValues / std::min(inner, kChunk)); }
  // Block b covers x[row * inner + begin, row * inner + end) of channel row % channels.
  void locate(int64_t b, int64_t& row, int64_t& begin, int64_t& end) const {
    row = b / per_row;
    begin = (b % per_row) * kChunk;
    end = std::min(inner, begin + kChunk);
  }
};

Blocks blocks_of(int64_t outer, int64_t channels, int64_t inner) {
  const int64_t per_row = inner == 0 ? 0 : (inner + kChunk - 1) / kChunk;
  return {outer * channels, channels, inner, per_row};
}

// Calls op(b, row, begin, end) for every block b (see Blocks::locate), the blocks split over the
// threads. A template, so that op inlines into the loop as when it was written out in place.
template <class Op>
void for_each_block(const Blocks& B, Op op) {
  parallel_for(B.count(), B.grain(), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int64_t row, begin, end;
      B.locate(b, row, begin, end);
      op(b, row, begin, end);
    }
  });
}

// Sums per-block partial sums into per-channel totals in block order (deterministic).
void add_block_sums(const Blocks& B, const std::vector<double>& partial, float scale, float* out) {
  if (!out) return;
  std::vector<double> total(static_cast<size_t>(B.channels), 0.0);
  for (int64_t b = 0; b < B.count(); ++b)
    total[static_cast<size_t>((b / B.per_row) % B.channels)] += partial[static_cast<size_t>(b)];
  for (int64_t c = 0; c < B.channels; ++c)
    out[c] += static_cast<float>(total[static_cast<size_t>(c)] * scale);
}

inline float clampf(float v, float low, float high) { return std::min(std::max(v, low), high); }

// One channel's grid in the forward of both kinds: y = rint(clip(x s, low, high)) * step.
// Clipping first equals clipping the code for integer bounds, and keeps rint's input small.
struct ForwardGrid {
  float s, step, low, high;
};

// y for every block, grid_of(channel) giving each channel's grid, or none when its threshold or
// width is not > 0 (every output 0).
template <class GridOf>
void quantize_forward(const Blocks& B, const float* x, float* y, GridOf grid_of) {
  for_each_block(B, [&](int64_t, int64_t row, int64_t begin, int64_t end) {
    const std::optional<ForwardGrid> grid = grid_of(row % B.channels);
    const float* px = x + row * B.inner;
    float* py = y + row * B.inner;
    if (!grid) {
      std::fill(py + begin, py + end, 0.0f);
      return;
    }
    const ForwardGrid g = *grid;
    for (int64_t i = begin; i < end; ++i)
      py[i] = std::rint(clampf(px[i] * g.s, g.low, g.high)) * g.step;
  });
}

// One block of the symmetric backward: dx += dy * [inside], returns sum dy * (inside ? r - u : k),
// with r = round(u), k = clip(r), inside = (r == k), i.e. round(u) within [low, high] (eq. 19 on
// clip's argument). Branch-free in 16 float lanes, so that it vectorizes; kDx: whether dx is
// wanted.
template <bool kDx>
float symmetric_block(const float* px, const float* pdy, float* pdx, int64_t n, float s, float low,
                      float high) {
  return lane_sums<1>(n, [=](int64_t i, float(&terms)[1]) {
    const float u = px[i] * s;
    const float r = std::rint(u);
    const float k = clampf(r, low, high);
    terms[0] = pdy[i] * (r == k ? r - u : k);
    if (kDx) pdx[i] += pdy[i] * (r == k ? 1.0f : 0.0f);
  })[0];
}

// One block of the asymmetric backward, with m = round(u) - z and inside = m within [0, N]:
// dx += dy * [inside]; left += dy * [not inside]; width += dy * (inside ? r - u : k - v), k =
// clip(m) + z.
template <bool kDx>
void asymmetric_block(const float* px, const float* pdy, float* pdx, int64_t n, float s, float z,
                      float v, float codes, float& left, float& width) {
  const std::array<float, 2> sums = lane_sums<2>(n, [=](int64_t i, float(&terms)[2]) {
    const float u = px[i] * s;
    const float r = std::rint(u);
    const float m = r - z;
    const float mc = clampf(m, 0.0f, codes);
    const float inside = m == mc ? 1.0f : 0.0f;
    terms[0] = pdy[i] * (1.0f - inside);
    terms[1] = pdy[i] * (m == mc ? r - u : (mc + z) - v);
    if (kDx) pdx[i] += pdy[i] * inside;
  });
  left = sums[0];
  width = sums[1];
}

}  // namespace

CodeRange symmetric_codes(int bits, bool is_signed) {
  if (is_signed) {
    const float high = std::ldexp(1.0f, bits - 1) - 1.0f;
    return {-high, high};
  }
  return {0.0f, std::ldexp(1.0f, bits) - 1.0f};
}

void symmetric_quantize_forward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                const float* threshold, CodeRange codes, float* y) {
  quantize_forward(blocks_of(outer, channels, inner), x, y,
                   [&](int64_t c) -> std::optional<ForwardGrid> {
                     const float t = threshold[c];
                     if (!(t > 0.0f)) return std::nullopt;
                     return ForwardGrid{codes.high / t, t / codes.high, codes.low, codes.high};
                   });
}

void symmetric_quantize_backward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                 const float* threshold, CodeRange codes, const float* dy,
                                 float* dx, float* dthreshold) {
  const Blocks B = blocks_of(outer, channels, inner);
  std::vector<double> partial(static_cast<size_t>(B.count()), 0.0);
  for_each_block(B, [&](int64_t b, int64_t row, int64_t begin, int64_t end) {
    const float t = threshold[row % channels];
    const float* px = x + row * inner;
    const float* pdy = dy + row * inner;
    float* pdx = dx ? dx + row * inner : nullptr;
    if (!(t > 0.0f)) {
      // Every value is clipped to the code of its sign (the limit T -> 0 of y = k T / high).
      partial[static_cast<size_t>(b)] = lane_sum(end - begin, [&](int64_t i) {
        const float v = px[begin + i];
        return pdy[begin + i] * (v > 0.0f ? codes.high : (v < 0.0f ? codes.low : 0.0f));
      });
      return;
    }
    const float s = codes.high / t;
    const int64_t n = end - begin;
    partial[static_cast<size_t>(b)] =
        pdx ? symmetric_block<true>(px + begin, pdy + begin, pdx + begin, n, s, codes.low,
                                    codes.high)
            : symmetric_block<false>(px + begin, pdy + begin, nullptr, n, s, codes.low, codes.high);
  });
  add_block_sums(B, partial, 1.0f / codes.high, dthreshold);
}

void asymmetric_quantize_forward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                 const float* left, const float* width, int bits, float* y) {
  const float n = std::ldexp(1.0f, bits) - 1.0f;
  quantize_forward(blocks_of(outer, channels, inner), x, y,
                   [&](int64_t c) -> std::optional<ForwardGrid> {
                     const float w = width[c];
                     if (!(w > 0.0f)) return std::nullopt;
                     const float s = n / w;
                     // clip(round(u) - z, 0, N) + z = round(clip(u, z, z + N)) for integer z, N.
                     const float z = std::rint(left[c] * s);
                     return ForwardGrid{s, w / n, z, z + n};
                   });
}

void asymmetric_quantize_backward(int64_t outer, int64_t channels, int64_t inner, const float* x,
                                  const float* left, const float* width, int bits, const float* dy,
                                  float* dx, float* dleft, float* dwidth) {
  const float n = std::ldexp(1.0f, bits) - 1.0f;
  const Blocks B = blocks_of(outer, channels, inner);
  std::vector<double> partial_left(static_cast<size_t>(B.count()), 0.0);
  std::vector<double> partial_width(static_cast<size_t>(B.count()), 0.0);
  for_each_block(B, [&](int64_t b, int64_t row, int64_t begin, int64_t end) {
    const float w = width[row % channels];
    if (!(w > 0.0f)) return;  // the output is the constant 0
    const float s = n / w;
    const float v = left[row % channels] * s;
    const float z = std::rint(v);
    const float* px = x + row * inner;
    const float* pdy = dy + row * inner;
    float* pdx = dx ? dx + row * inner : nullptr;
    float sum_left, sum_width;
    if (pdx) {
      asymmetric_block<true>(px + begin, pdy + begin, pdx + begin, end - begin, s, z, v, n,
                             sum_left, sum_width);
    } else {
      asymmetric_block<false>(px + begin, pdy + begin, nullptr, end - begin, s, z, v, n, sum_left,
                              sum_width);
    }
    partial_left[static_cast<size_t>(b)] = sum_left;
    partial_width[static_cast<size_t>(b)] = sum_width;
  });
  add_block_sums(B, partial_left, 1.0f, dleft);
  add_block_sums(B, partial_width, 1.0f / n, dwidth);
}

void quantize_bias_int32(int64_t channels, const float* bias, double input_scale,
                         const float* weight_scale, int64_t weight_scale_count, int32_t* out) {
  constexpr double kLimit = 2147483647.0;  // 2^31 - 1
  for (int64_t c = 0; c < channels; ++c) {
    const double sw = weight_scale[weight_scale_count == 1 ? 0 : c];
    const double q = std::nearbyint(input_scale * sw * static_cast<double>(bias[c]));
    out[c] = static_cast<int32_t>(std::min(std::max(q, -kLimit), kLimit));
  }
}

}  // namespace lowbit::kernels
