#include "core/runtime/engine.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "core/check.h"
#include "core/runtime/levels.h"
#include "core/runtime/shift_gemm.h"
#include "core/runtime/thresholds.h"

namespace lowbit::runtime {

namespace {

constexpr double kOne = static_cast<double>(1 << kFractionBits);  // 1.0 in fixed point
// The most values one image's activation may hold (256 MiB of int32): a packed file's shapes are
// checked against it before anything is allocated.
constexpr int64_t kMaxValues = int64_t{1} << 26;

int32_t clamp_counted(int64_t v, int64_t& saturated) {
  if (v > INT32_MAX || v < INT32_MIN) ++saturated;
  return saturate_int32(v);
}

// sum / count rounded to nearest, halves away from zero (count > 0): the integer model's pooling.
int32_t divide_rounded(int64_t sum, int64_t count) {
  const int64_t q = (2 * std::abs(sum) + count) / (2 * count);
  return saturate_int32(sum < 0 ? -q : q);
}

int64_t numel(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// (C, H, W) values are kept (H, W, C): a position's channels are contiguous, which is what im2col
// rows and the GEMM's outputs are made of. These convert to and from the float model's order.
void hwc_to_chw(const int32_t* x, int64_t c, int64_t plane, int32_t* y) {
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t ch = 0; ch < c; ++ch) y[ch * plane + p] = x[p * c + ch];
}
void chw_to_hwc(const int32_t* x, int64_t c, int64_t plane, int32_t* y) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t p = 0; p < plane; ++p) y[p * c + ch] = x[ch * plane + p];
}
// A value in the float model's order: copied out of (H, W, C) when it is an image.
void canonical(const std::vector<int32_t>& x, const std::vector<int64_t>& dims,
               std::vector<int32_t>& out) {
  out.resize(x.size());
  if (dims.size() == 3)
    hwc_to_chw(x.data(), dims[0], dims[1] * dims[2], out.data());
  else
    out = x;
}

// [begin, end) of `total` items split in chunks over the team when `parallel`, else at once.
template <class F>
void for_ranges(int64_t total, bool parallel, F&& body) {
  if (!parallel || total < 2) {
    body(int64_t{0}, total);
    return;
  }
  const int64_t chunks = std::min<int64_t>(total, 4 * omp_get_max_threads());
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < chunks; ++k) body(total * k / chunks, total * (k + 1) / chunks);
}

}  // namespace

// A product as it runs here: the input size, the kernel path and the packed weights.
struct PreparedOp {
  enum class Path { kNone, kInt8, kInt16, kDepthwise };
  Path path = Path::kNone;
  int64_t height = 1, width = 1, out_h = 1, out_w = 1, group_in = 0, group_out = 0;
  std::vector<PackedWeights> packed;  // one per group (the GEMM paths)
  // kInt8, per output channel, modulo 2^32: code_low sum_k w[o][k] over the whole window, and
  // code_low sum_c w[o][tap][c] of each tap (o, tap), taken off where the tap reads padding.
  std::vector<uint32_t> correction, tap_correction;
  // kInt8: the offsets z[o] subtracted from the weight codes to fit int8 (empty when all are 0).
  std::vector<int32_t> weight_offsets;
  // to_fixed and bias per output channel as plain arrays, so that requantize_row vectorizes:
  // multipliers (0 where to_fixed maps everything to 0), shifts (1 there) and rounding terms.
  std::vector<int64_t> multiplier, rounding;
  std::vector<int64_t> shift, bias;
  std::vector<int32_t> depthwise;  // kDepthwise: (kh, kw, C)
  LevelMap levels;                 // a kLevels operation's map
  ThresholdMap thresholds;         // a kThresholds operation's
  WideProduct wide;                // a kWideProduct's
};

struct Workspace {
  std::vector<std::vector<int32_t>> values;
  std::vector<uint8_t> codes8, rows8;
  std::vector<int16_t> codes16, rows16;
  std::vector<int32_t> codes32, acc, row_sums, canonical_a, canonical_b;
  int64_t saturated = 0;
};

namespace {

// The output shape of `op` on inputs of `in` shapes, or an error naming the operation.
std::vector<int64_t> infer_shape(const Op& op, const std::vector<std::vector<int64_t>>& in,
                                 const std::string& where) {
  const std::vector<int64_t>& x = in[0];
  auto need_image = [&] {
    LOWBIT_CHECK(x.size() == 3, where, ": expects an image (C, H, W), got ", x.size(),
                 " dimensions");
  };
  switch (op.kind) {
    case OpKind::kProduct: {
      const ProductOp& p = op.product;
      if (p.is_linear) {
        LOWBIT_CHECK(x.size() == 1 && x[0] == p.in_channels, where, ": a linear layer of ",
                     p.in_channels, " features gets ", numel(x), " values in ", x.size(),
                     " dimensions");
        return {p.out_channels};
      }
      need_image();
      LOWBIT_CHECK(x[0] == p.in_channels, where, ": expects ", p.in_channels, " channels, gets ",
                   x[0]);
      const int64_t ho = (x[1] + 2 * p.padding - p.kernel_h) / p.stride + 1,
                    wo = (x[2] + 2 * p.padding - p.kernel_w) / p.stride + 1;
      LOWBIT_CHECK(x[1] + 2 * p.padding >= p.kernel_h && x[2] + 2 * p.padding >= p.kernel_w, where,
                   ": a ", p.kernel_h, "x", p.kernel_w, " kernel on a ", x[1], "x", x[2],
                   " image padded by ", p.padding);
      return {p.out_channels, ho, wo};
    }
    case OpKind::kClamp:
      return x;
    case OpKind::kLevels: {
      const std::string error = level_params_error(op.params);
      LOWBIT_CHECK(error.empty(), where, ": ", error);
      return x;
    }
    case OpKind::kThresholds: {
      const std::string error = threshold_shape_error(op.params, in);
      LOWBIT_CHECK(error.empty(), where, ": ", error);
      return x;
    }
    case OpKind::kWideProduct: {
      std::string error = wide_product_params_error(op.params);
      LOWBIT_CHECK(error.empty(), where, ": ", error);
      std::vector<int64_t> out = wide_product_shape(wide_product(op.params), x, error);
      LOWBIT_CHECK(error.empty(), where, ": ", error);
      return out;
    }
    case OpKind::kMaxPool:
    case OpKind::kAvgPool: {
      need_image();
      const int64_t k = op.params[0], s = op.params[1], pad = op.params[2];
      LOWBIT_CHECK(
          k >= 1 && s >= 1 && pad >= 0 && pad < k && x[1] + 2 * pad >= k && x[2] + 2 * pad >= k,
          where, ": pooling of kernel ", k, ", stride ", s, ", padding ", pad, " on a ", x[1], "x",
          x[2], " image");
      return {x[0], (x[1] + 2 * pad - k) / s + 1, (x[2] + 2 * pad - k) / s + 1};
    }
    case OpKind::kGlobalAvgPool:
      need_image();
      return {x[0]};
    case OpKind::kPadChannels: {
      need_image();
      const int64_t c = op.params[0], s = op.params[1];
      LOWBIT_CHECK(c >= x[0] && s >= 1 && c <= kMaxValues, where, ": pads ", x[0], " channels to ",
                   c, " with stride ", s);
      return {c, (x[1] + s - 1) / s, (x[2] + s - 1) / s};
    }
    case OpKind::kFlatten:
      return {numel(x)};
    case OpKind::kReshape: {
      std::vector<int64_t> full{1};
      full.insert(full.end(), x.begin(), x.end());
      std::vector<int64_t> out = op.params;
      int64_t known = 1, inferred = -1;
      for (size_t k = 0; k < out.size(); ++k) {
        if (out[k] == 0) {
          LOWBIT_CHECK(k < full.size(), where, ": reshape keeps dimension ", k, " of ",
                       full.size());
          out[k] = full[k];
        }
        if (out[k] == -1) {
          LOWBIT_CHECK(inferred < 0, where, ": reshape infers more than one dimension");
          inferred = static_cast<int64_t>(k);
        } else {
          LOWBIT_CHECK(out[k] >= 1, where, ": reshape to dimension ", out[k]);
          known *= out[k];
          LOWBIT_CHECK(known <= kMaxValues, where, ": reshape to more than 2^26 values");
        }
      }
      if (inferred >= 0) out[static_cast<size_t>(inferred)] = numel(x) / known;
      LOWBIT_CHECK(out[0] == 1 && numel(out) == numel(x), where, ": reshapes an image of ",
                   numel(x), " values to ", numel(out), " in a batch of ", out[0]);
      out.erase(out.begin());
      LOWBIT_CHECK(!out.empty(), where, ": reshape to a batch of scalars");
      return out;
    }
    case OpKind::kAdd:
      LOWBIT_CHECK(in[0] == in[1], where, ": adds values of different shapes");
      return x;
    case OpKind::kConcat: {
      const int64_t rank = static_cast<int64_t>(x.size());
      const int64_t axis = op.params[0];
      const int64_t d = (axis < 0 ? axis + rank + 1 : axis) - 1;
      LOWBIT_CHECK(d >= 0 && d < rank, where, ": concatenation along axis ", axis,
                   " of values with ", rank + 1, " dimensions");
      std::vector<int64_t> out = x;
      out[static_cast<size_t>(d)] = 0;
      for (const auto& part : in) {
        LOWBIT_CHECK(part.size() == x.size(), where, ": concatenates values of different ranks");
        for (int64_t k = 0; k < rank; ++k)
          LOWBIT_CHECK(k == d || part[static_cast<size_t>(k)] == x[static_cast<size_t>(k)], where,
                       ": concatenates values that differ off the axis");
        out[static_cast<size_t>(d)] += part[static_cast<size_t>(d)];
      }
      return out;
    }
  }
  throw Error(concat(where, ": unknown operation"));
}

// The offset that brings output channel o's weight codes into int8 (0 when they are there
// already, as symmetric grids' are), or nullopt when they span more than 256 values.
std::optional<int32_t> weight_offset(const ProductOp& p, int64_t o) {
  const int64_t depth = p.depth();
  const auto first = p.weight_codes.begin() + o * depth;
  const auto [low, high] = std::minmax_element(first, first + depth);
  if (*high - *low > 255) return std::nullopt;
  if (*low >= -128 && *high <= 127) return 0;
  return (int32_t{*low} + *high + 1) / 2;  // centres the range: -128 <= w - offset <= 127
}

// Whether a product's codes fit the uint8 x int8 kernel: input codes k - code_low in 0..255,
// every channel's weight codes within 256 values.
bool fits_int8(const ProductOp& p) {
  if (p.code_high - p.code_low > 255) return false;
  for (int64_t o = 0; o < p.out_channels; ++o)
    if (!weight_offset(p, o)) return false;
  return true;
}

// The weights of group g reordered to the im2col rows' order: (out, kh, kw, C/groups).
std::vector<int16_t> group_weights(const ProductOp& p, int64_t g) {
  const int64_t cg = p.in_channels / p.groups, og = p.out_channels / p.groups, depth = p.depth();
  std::vector<int16_t> w(static_cast<size_t>(og * depth));
  for (int64_t o = 0; o < og; ++o)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t ky = 0; ky < p.kernel_h; ++ky)
        for (int64_t kx = 0; kx < p.kernel_w; ++kx)
          w[static_cast<size_t>(o * depth + (ky * p.kernel_w + kx) * cg + c)] =
              p.weight_codes[static_cast<size_t>(((g * og + o) * cg + c) * p.kernel_h * p.kernel_w +
                                                 ky * p.kernel_w + kx)];
  return w;
}

// y[o] = saturate(to_fixed[o](acc[o] + correction[o]) + bias[o]) for o < n, with the
// accumulator and correction added modulo 2^32 (correction null: none). Branch-free over o, so that
// the compiler vectorizes it; returns how many values were clamped to int32.
int64_t requantize_row(const int32_t* acc, const uint32_t* correction, const PreparedOp& prep,
                       int64_t first, int64_t n, int32_t* y) {
  const int64_t* m = prep.multiplier.data() + first;
  const int64_t* r = prep.rounding.data() + first;
  const int64_t* s = prep.shift.data() + first;
  const int64_t* b = prep.bias.data() + first;
  int64_t clamped = 0;
  for (int64_t o = 0; o < n; ++o) {
    const uint32_t sum = static_cast<uint32_t>(acc[o]) + (correction ? correction[o] : 0u);
    const int64_t a = static_cast<int32_t>(sum);
    const int64_t v = ((a * m[o] + r[o]) >> s[o]) + b[o];
    clamped += (v > INT32_MAX) | (v < INT32_MIN);
    y[o] = static_cast<int32_t>(v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : v));
  }
  return clamped;
}

PreparedOp prepare_product(const ProductOp& p, const std::vector<int64_t>& in,
                           const std::vector<int64_t>& out, GemmKernel kernel) {
  PreparedOp prep;
  if (!p.is_linear) {
    prep.height = in[1];
    prep.width = in[2];
    prep.out_h = out[1];
    prep.out_w = out[2];
  }
  prep.group_in = p.in_channels / p.groups;
  prep.group_out = p.out_channels / p.groups;
  for (int64_t o = 0; o < p.out_channels; ++o) {
    const FixedPointMultiplier& f = p.to_fixed[static_cast<size_t>(o)];
    const bool zero = f.multiplier == 0 || f.shift >= 63;  // apply() gives 0: (0 + 1) >> 1
    prep.multiplier.push_back(zero ? 0 : f.multiplier);
    prep.shift.push_back(zero ? 1 : f.shift);
    prep.rounding.push_back(int64_t{1} << ((zero ? 1 : f.shift) - 1));
    prep.bias.push_back(p.bias[static_cast<size_t>(o)]);
  }
  if (p.groups > 1 && prep.group_in == 1 && prep.group_out == 1) {
    prep.path = PreparedOp::Path::kDepthwise;
    const int64_t taps = p.kernel_h * p.kernel_w;
    prep.depthwise.resize(static_cast<size_t>(taps * p.out_channels));
    for (int64_t c = 0; c < p.out_channels; ++c)
      for (int64_t t = 0; t < taps; ++t)
        prep.depthwise[static_cast<size_t>(t * p.out_channels + c)] =
            p.weight_codes[static_cast<size_t>(c * taps + t)];
    return prep;
  }
  const bool int8 = kernel == GemmKernel::kVnni && fits_int8(p);
  // The shift kernel takes the layers of power-of-two codes; the others run on avx2.
  const bool shift =
      kernel == GemmKernel::kShift &&
      shift_codes(p.weight_codes.data(), static_cast<int64_t>(p.weight_codes.size()));
  prep.path = int8 ? PreparedOp::Path::kInt8 : PreparedOp::Path::kInt16;
  const GemmKernel used =
      int8 ? GemmKernel::kVnni
      : shift
          ? GemmKernel::kShift
          : (kernel == GemmKernel::kPortable
                 ? GemmKernel::kPortable
                 : (cpu_supports(GemmKernel::kAvx2) ? GemmKernel::kAvx2 : GemmKernel::kPortable));
  if (int8)
    for (int64_t o = 0; o < p.out_channels; ++o) {
      const int32_t z = *weight_offset(p, o);
      if (z != 0 && prep.weight_offsets.empty())
        prep.weight_offsets.assign(static_cast<size_t>(p.out_channels), 0);
      if (z != 0) prep.weight_offsets[static_cast<size_t>(o)] = z;
    }
  for (int64_t g = 0; g < p.groups; ++g) {
    const std::vector<int16_t> w = group_weights(p, g);
    if (prep.weight_offsets.empty()) {
      prep.packed.push_back(pack_weights(used, w.data(), prep.group_out, p.depth()));
    } else {  // packed as w - z[o]; requantization adds z[o] sum_k u back
      std::vector<int16_t> shifted = w;
      for (int64_t o = 0; o < prep.group_out; ++o)
        for (int64_t k = 0; k < p.depth(); ++k)
          shifted[static_cast<size_t>(o * p.depth() + k)] = static_cast<int16_t>(
              shifted[static_cast<size_t>(o * p.depth() + k)] -
              prep.weight_offsets[static_cast<size_t>(g * prep.group_out + o)]);
      prep.packed.push_back(pack_weights(used, shifted.data(), prep.group_out, p.depth()));
    }
    // The rows hold u = k - low, and 0 where the window reads padding (code 0, not low); the
    // weights are packed as w - z:
    //   sum k w = sum u (w - z) + z sum u + low (sum of w over the taps inside the image).
    // Every product is taken modulo 2^32, which is exact because the true sum fits int32.
    if (int8) {
      const int64_t taps = p.kernel_h * p.kernel_w;
      for (int64_t o = 0; o < prep.group_out; ++o) {
        int64_t sum = 0;
        for (int64_t t = 0; t < taps; ++t) {
          int64_t tap = 0;
          for (int64_t c = 0; c < prep.group_in; ++c)
            tap += w[static_cast<size_t>(o * p.depth() + t * prep.group_in + c)];
          prep.tap_correction.push_back(static_cast<uint32_t>(int64_t{p.code_low} * tap));
          sum += tap;
        }
        prep.correction.push_back(static_cast<uint32_t>(int64_t{p.code_low} * sum));
      }
    }
  }
  return prep;
}

// im2col rows [begin, end) of group g: row q holds the codes under output position q in (kh, kw,
// C/groups) order, 0 where the window leaves the image (code 0 on the int16 path; on the uint8
// path, where 0 stands for code_low, the requantization corrects for it), zeros up to the padded
// depth.
template <class T>
void im2col(const ProductOp& p, const PreparedOp& prep, const T* codes, int64_t g, int64_t begin,
            int64_t end, T* rows, int64_t row_stride) {
  const int64_t c = p.in_channels, cg = prep.group_in;
  for (int64_t q = begin; q < end; ++q) {
    const int64_t oy = q / prep.out_w, ox = q % prep.out_w;
    T* row = rows + q * row_stride;
    int64_t k = 0;
    for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
      const int64_t iy = oy * p.stride - p.padding + ky;
      for (int64_t kx = 0; kx < p.kernel_w; ++kx, k += cg) {
        const int64_t ix = ox * p.stride - p.padding + kx;
        if (iy < 0 || iy >= prep.height || ix < 0 || ix >= prep.width)
          std::fill(row + k, row + k + cg, T{0});
        else
          std::memcpy(row + k, codes + (iy * prep.width + ix) * c + g * cg, sizeof(T) * cg);
      }
    }
    std::fill(row + k, row + row_stride, T{0});
  }
}

void run_product(const ProductOp& p, const PreparedOp& prep, const int32_t* x, int32_t* y,
                 Workspace& ws, bool parallel) {
  const int64_t n = p.in_channels * prep.height * prep.width;
  const int64_t positions = prep.out_h * prep.out_w, outs = p.out_channels;
  const int32_t low = p.code_low, high = p.code_high;
  // code(i) = clamp(to_codes(x[i]), low, high), branch-free (to_codes as requantize_row's).
  const bool to_zero = p.to_codes.multiplier == 0 || p.to_codes.shift >= 63;
  const int64_t cm = to_zero ? 0 : p.to_codes.multiplier, cs = to_zero ? 1 : p.to_codes.shift;
  const int64_t cr = int64_t{1} << (cs - 1);
  auto code = [&](int64_t i) {
    const int64_t k = (int64_t{x[i]} * cm + cr) >> cs;
    return static_cast<int32_t>(k < low ? low : (k > high ? high : k));
  };
  using Path = PreparedOp::Path;
  if (prep.path == Path::kInt8) {
    ws.codes8.resize(static_cast<size_t>(n));
    for_ranges(n, parallel, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        ws.codes8[static_cast<size_t>(i)] = static_cast<uint8_t>(code(i) - low);
    });
  } else if (prep.path == Path::kInt16) {
    ws.codes16.resize(static_cast<size_t>(n));
    for_ranges(n, parallel, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        ws.codes16[static_cast<size_t>(i)] = static_cast<int16_t>(code(i));
    });
  } else {
    ws.codes32.resize(static_cast<size_t>(n));
    for_ranges(n, parallel, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ws.codes32[static_cast<size_t>(i)] = code(i);
    });
  }

  int64_t saturated = 0;
  const int64_t taps = p.kernel_h * p.kernel_w;
  // y[q][first + o] = saturate(to_fixed(acc[q][o] + correction) + bias) for o < count and
  // positions [b, e).
  auto requantize = [&](const int32_t* acc, int64_t stride, int64_t first, int64_t count, int64_t b,
                        int64_t e) {
    int64_t local = 0;
    std::vector<uint32_t> corrected(prep.correction.empty() ? 0 : static_cast<size_t>(count));
    for (int64_t q = b; q < e; ++q) {
      const uint32_t* correction = nullptr;
      if (!prep.correction.empty()) {
        // The whole-window correction, less the taps that read padding (a border position), plus
        // the weight offsets' term.
        std::copy_n(prep.correction.data() + first, count, corrected.data());
        const int64_t oy = q / prep.out_w, ox = q % prep.out_w;
        const int64_t y0 = oy * p.stride - p.padding, x0 = ox * p.stride - p.padding;
        if (y0 < 0 || x0 < 0 || y0 + p.kernel_h > prep.height || x0 + p.kernel_w > prep.width)
          for (int64_t ky = 0; ky < p.kernel_h; ++ky)
            for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
              const int64_t iy = y0 + ky, ix = x0 + kx;
              if (iy >= 0 && iy < prep.height && ix >= 0 && ix < prep.width) continue;
              const int64_t t = ky * p.kernel_w + kx;
              for (int64_t o = 0; o < count; ++o)
                corrected[static_cast<size_t>(o)] -=
                    prep.tap_correction[static_cast<size_t>((first + o) * taps + t)];
            }
        if (!prep.weight_offsets.empty()) {
          const auto sum = static_cast<uint32_t>(ws.row_sums[static_cast<size_t>(q)]);
          for (int64_t o = 0; o < count; ++o)
            corrected[static_cast<size_t>(o)] +=
                static_cast<uint32_t>(prep.weight_offsets[static_cast<size_t>(first + o)]) * sum;
        }
        correction = corrected.data();
      }
      local +=
          requantize_row(acc + q * stride, correction, prep, first, count, y + q * outs + first);
    }
    if (local) {
#pragma omp atomic
      saturated += local;
    }
  };

  if (prep.path == Path::kDepthwise) {
    // Per position, every channel's window at once: acc[c] += k[c] w[tap][c] (vectorizes over c).
    ws.acc.resize(static_cast<size_t>(positions * outs));
    for_ranges(positions, parallel, [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; ++q) {
        int32_t* a = ws.acc.data() + q * outs;
        std::fill(a, a + outs, 0);
        const int64_t oy = q / prep.out_w, ox = q % prep.out_w;
        for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
          const int64_t iy = oy * p.stride - p.padding + ky;
          if (iy < 0 || iy >= prep.height) continue;
          for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t ix = ox * p.stride - p.padding + kx;
            if (ix < 0 || ix >= prep.width) continue;  // padding: code 0 adds nothing
            const int32_t* k = ws.codes32.data() + (iy * prep.width + ix) * outs;
            const int32_t* w = prep.depthwise.data() + (ky * p.kernel_w + kx) * outs;
            for (int64_t c = 0; c < outs; ++c) a[c] += k[c] * w[c];
          }
        }
      }
      requantize(ws.acc.data(), outs, 0, outs, b, e);
    });
  } else {
    const bool int8 = prep.path == Path::kInt8;
    const int64_t depth = prep.packed[0].padded_depth, stride = prep.packed[0].padded_out;
    const bool direct = p.kernel_h == 1 && p.kernel_w == 1 && p.stride == 1 && p.padding == 0 &&
                        p.groups == 1 && depth == p.in_channels;
    ws.acc.resize(static_cast<size_t>(positions * stride));
    ws.row_sums.resize(static_cast<size_t>(positions));
    if (!direct) {
      if (int8)
        ws.rows8.resize(static_cast<size_t>(positions * depth));
      else
        ws.rows16.resize(static_cast<size_t>(positions * depth));
    }
    for (int64_t g = 0; g < p.groups; ++g) {
      const PackedWeights& w = prep.packed[static_cast<size_t>(g)];
      for_ranges(positions, parallel, [&](int64_t b, int64_t e) {
        if (int8) {
          const uint8_t* rows = ws.codes8.data();
          if (!direct) {
            im2col<uint8_t>(p, prep, ws.codes8.data(), g, b, e, ws.rows8.data(), depth);
            rows = ws.rows8.data();
          }
          gemm_u8s8(rows + b * depth, e - b, w, ws.acc.data() + b * stride);
          if (!prep.weight_offsets.empty())  // sum_k u of each row, for the offsets' term
            for (int64_t q = b; q < e; ++q) {
              int32_t sum = 0;
              for (int64_t k = 0; k < p.depth(); ++k) sum += rows[q * depth + k];
              ws.row_sums[static_cast<size_t>(q)] = sum;
            }
        } else {
          const int16_t* rows = ws.codes16.data();
          if (!direct) {
            im2col<int16_t>(p, prep, ws.codes16.data(), g, b, e, ws.rows16.data(), depth);
            rows = ws.rows16.data();
          }
          gemm_i16(rows + b * depth, e - b, w, ws.acc.data() + b * stride);
        }
        requantize(ws.acc.data(), stride, g * prep.group_out, prep.group_out, b, e);
      });
    }
  }
  ws.saturated += saturated;
}

void run_pool(const Op& op, const std::vector<int64_t>& in, const std::vector<int64_t>& out,
              const int32_t* x, int32_t* y) {
  const bool is_max = op.kind == OpKind::kMaxPool;
  const int64_t k = op.params[0], s = op.params[1], pad = op.params[2];
  const int64_t c = in[0], h = in[1], w = in[2], ho = out[1], wo = out[2];
  std::vector<int64_t> sums(static_cast<size_t>(c));
  for (int64_t oy = 0; oy < ho; ++oy)
    for (int64_t ox = 0; ox < wo; ++ox) {
      int32_t* dst = y + (oy * wo + ox) * c;
      std::fill(sums.begin(), sums.end(), 0);
      std::fill(dst, dst + c, INT32_MIN);
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx) {
          const int64_t iy = oy * s - pad + ky, ix = ox * s - pad + kx;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;  // max: -infinity; average: 0
          const int32_t* src = x + (iy * w + ix) * c;
          for (int64_t ch = 0; ch < c; ++ch) {
            dst[ch] = std::max(dst[ch], src[ch]);
            sums[static_cast<size_t>(ch)] += src[ch];
          }
        }
      if (!is_max)  // average pooling counts the padding (count_include_pad, as the float op)
        for (int64_t ch = 0; ch < c; ++ch)
          dst[ch] = divide_rounded(sums[static_cast<size_t>(ch)], k * k);
    }
}

}  // namespace

Engine::Engine(Program program, GemmKernel kernel) : program_(std::move(program)), kernel_(kernel) {
  LOWBIT_CHECK(cpu_supports(kernel), "runtime: this CPU does not run the ", kernel_name(kernel),
               " kernel");
  const std::vector<int64_t>& input = program_.info.input_dims;
  LOWBIT_CHECK(!input.empty(), "runtime: the program has no input shape");
  int64_t size = 1;
  for (int64_t d : input) {
    LOWBIT_CHECK(d >= 1 && d <= kMaxValues && size <= kMaxValues / d,
                 "runtime: an input of more than 2^26 values");
    size *= d;
  }
  value_dims_.assign(static_cast<size_t>(program_.num_values), {});
  value_dims_[0] = input;
  prepared_.resize(program_.ops.size());
  for (size_t k = 0; k < program_.ops.size(); ++k) {
    const Op& op = program_.ops[k];
    const std::string where = concat("operation ", k);
    std::vector<std::vector<int64_t>> in;
    for (int32_t v : op.inputs) {
      LOWBIT_CHECK(
          v >= 0 && v < program_.num_values && !value_dims_[static_cast<size_t>(v)].empty(), where,
          ": input value ", v, " is not made before it");
      in.push_back(value_dims_[static_cast<size_t>(v)]);
    }
    LOWBIT_CHECK(!in.empty() && op.output > 0 && op.output < program_.num_values &&
                     value_dims_[static_cast<size_t>(op.output)].empty(),
                 where, ": bad inputs or output value ", op.output);
    std::vector<int64_t> out = infer_shape(op, in, where);
    int64_t count = 1;
    for (int64_t d : out) {
      LOWBIT_CHECK(d >= 1 && count <= kMaxValues / d, where,
                   ": an output of more than 2^26 values");
      count *= d;
    }
    if (op.kind == OpKind::kProduct) {
      prepared_[k] = prepare_product(op.product, in[0], out, kernel_);
      ++quantized_layers_;
      int8_layers_ += prepared_[k].path == PreparedOp::Path::kInt8;
      int16_layers_ += prepared_[k].path == PreparedOp::Path::kInt16;
      shift_layers_ +=
          !prepared_[k].packed.empty() && prepared_[k].packed[0].kernel == GemmKernel::kShift;
    }
    if (op.kind == OpKind::kLevels) prepared_[k].levels = level_map(op.params);
    if (op.kind == OpKind::kThresholds) prepared_[k].thresholds = threshold_map(op.params);
    if (op.kind == OpKind::kWideProduct) prepared_[k].wide = wide_product(op.params);
    value_dims_[static_cast<size_t>(op.output)] = std::move(out);
  }
  const std::vector<int64_t>& last = value_dims_[static_cast<size_t>(program_.ops.back().output)];
  LOWBIT_CHECK(numel(last) == program_.info.num_classes, "runtime: the program ends in ",
               numel(last), " values for ", program_.info.num_classes, " classes");
}

Engine::~Engine() = default;

int64_t Engine::image_size() const { return numel(program_.info.input_dims); }

std::unique_ptr<Workspace> Engine::take_workspace() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (pool_.empty()) return std::make_unique<Workspace>();
  std::unique_ptr<Workspace> ws = std::move(pool_.back());
  pool_.pop_back();
  return ws;
}

void Engine::give_back(std::unique_ptr<Workspace> ws) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  saturated_ += ws->saturated;
  ws->saturated = 0;
  pool_.push_back(std::move(ws));
}

void Engine::run(const float* images, int64_t n, float* logits, int threads) {
  if (n <= 0) return;
  const int team = threads > 0 ? threads : omp_get_max_threads();
  const int64_t size = image_size(), classes = program_.info.num_classes;
  if (n == 1 || team == 1) {  // one image at a time, its layers spread over the team
    std::unique_ptr<Workspace> ws = take_workspace();
    const int previous = omp_get_max_threads();
    omp_set_num_threads(team);
    for (int64_t i = 0; i < n; ++i)
      run_image(images + i * size, logits + i * classes, *ws, team > 1);
    omp_set_num_threads(previous);
    give_back(std::move(ws));
    return;
  }
#pragma omp parallel num_threads(team)
  {
    std::unique_ptr<Workspace> ws = take_workspace();
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < n; ++i) run_image(images + i * size, logits + i * classes, *ws, false);
    give_back(std::move(ws));
  }
}

void Engine::run_image(const float* image, float* logits, Workspace& ws,
                       bool parallel_inside) const {
  ws.values.resize(static_cast<size_t>(program_.num_values));
  const std::vector<int64_t>& input = value_dims_[0];
  const int64_t size = numel(input);
  std::vector<int32_t>& x0 = ws.values[0];
  x0.resize(static_cast<size_t>(size));
  // The input boundary: float to fixed point, as the integer model's llround(x 2^F).
  ws.canonical_a.resize(static_cast<size_t>(size));
  for (int64_t j = 0; j < size; ++j)
    ws.canonical_a[static_cast<size_t>(j)] =
        clamp_counted(std::llround(static_cast<double>(image[j]) * kOne), ws.saturated);
  if (input.size() == 3)
    chw_to_hwc(ws.canonical_a.data(), input[0], input[1] * input[2], x0.data());
  else
    x0 = ws.canonical_a;

  for (size_t k = 0; k < program_.ops.size(); ++k) {
    const Op& op = program_.ops[k];
    const std::vector<int64_t>& in = value_dims_[static_cast<size_t>(op.inputs[0])];
    const std::vector<int64_t>& out = value_dims_[static_cast<size_t>(op.output)];
    std::vector<int32_t>& y = ws.values[static_cast<size_t>(op.output)];
    y.resize(static_cast<size_t>(numel(out)));
    const std::vector<int32_t>& x = ws.values[static_cast<size_t>(op.inputs[0])];
    switch (op.kind) {
      case OpKind::kProduct:
        run_product(op.product, prepared_[k], x.data(), y.data(), ws, parallel_inside);
        break;
      case OpKind::kClamp: {
        const auto high = static_cast<int32_t>(std::min<int64_t>(op.params[0], INT32_MAX));
        for (size_t i = 0; i < y.size(); ++i) y[i] = std::min(std::max(x[i], 0), high);
        break;
      }
      case OpKind::kLevels: {
        const LevelMap& map = prepared_[k].levels;
        for (size_t i = 0; i < y.size(); ++i) y[i] = map.apply(x[i]);
        break;
      }
      case OpKind::kThresholds: {  // channels last; a (C) value is one position
        const int32_t* shortcut =
            op.inputs.size() > 1 ? ws.values[static_cast<size_t>(op.inputs[1])].data() : nullptr;
        prepared_[k].thresholds.apply(x.data(), shortcut, numel(out) / out[0], true, y.data());
        break;
      }
      case OpKind::kWideProduct:  // channels last; a (C) value is a 1x1 image
        prepared_[k].wide.run(x.data(), in.size() == 3 ? in[1] : 1, in.size() == 3 ? in[2] : 1,
                              true, y.data());
        break;
      case OpKind::kMaxPool:
      case OpKind::kAvgPool:
        run_pool(op, in, out, x.data(), y.data());
        break;
      case OpKind::kGlobalAvgPool: {
        const int64_t c = in[0], plane = in[1] * in[2];
        for (int64_t ch = 0; ch < c; ++ch) {
          int64_t sum = 0;
          for (int64_t q = 0; q < plane; ++q) sum += x[static_cast<size_t>(q * c + ch)];
          y[static_cast<size_t>(ch)] = divide_rounded(sum, plane);
        }
        break;
      }
      case OpKind::kPadChannels: {
        const int64_t c = in[0], w = in[2], s = op.params[1], co = out[0], ho = out[1], wo = out[2];
        std::fill(y.begin(), y.end(), 0);
        for (int64_t i = 0; i < ho; ++i)
          for (int64_t j = 0; j < wo; ++j)
            std::copy_n(x.data() + ((i * s) * w + j * s) * c, c, y.data() + (i * wo + j) * co);
        break;
      }
      case OpKind::kFlatten:
      case OpKind::kReshape:
        canonical(x, in, ws.canonical_a);
        if (out.size() == 3)
          chw_to_hwc(ws.canonical_a.data(), out[0], out[1] * out[2], y.data());
        else
          y = ws.canonical_a;
        break;
      case OpKind::kAdd: {
        const std::vector<int32_t>& b = ws.values[static_cast<size_t>(op.inputs[1])];
        for (size_t i = 0; i < y.size(); ++i)
          y[i] = clamp_counted(static_cast<int64_t>(x[i]) + b[i], ws.saturated);
        break;
      }
      case OpKind::kConcat: {
        // Joined in the float model's order: outer blocks of the dimensions before the axis, each
        // the inputs' inner slabs one after the other.
        const int64_t rank = static_cast<int64_t>(in.size()), axis = op.params[0];
        const int64_t d = (axis < 0 ? axis + rank + 1 : axis) - 1;
        int64_t outer = 1;
        for (int64_t j = 0; j < d; ++j) outer *= out[static_cast<size_t>(j)];
        std::vector<std::vector<int32_t>> parts(op.inputs.size());
        for (size_t k = 0; k < op.inputs.size(); ++k) {
          const auto v = static_cast<size_t>(op.inputs[k]);
          canonical(ws.values[v], value_dims_[v], parts[k]);
        }
        ws.canonical_b.clear();
        for (int64_t o = 0; o < outer; ++o)
          for (const std::vector<int32_t>& part : parts) {
            const int64_t slab = static_cast<int64_t>(part.size()) / outer;
            ws.canonical_b.insert(ws.canonical_b.end(), part.begin() + o * slab,
                                  part.begin() + (o + 1) * slab);
          }
        if (out.size() == 3)
          chw_to_hwc(ws.canonical_b.data(), out[0], out[1] * out[2], y.data());
        else
          y = ws.canonical_b;
        break;
      }
    }
  }
  const std::vector<int32_t>& last = ws.values[static_cast<size_t>(program_.ops.back().output)];
  canonical(last, value_dims_[static_cast<size_t>(program_.ops.back().output)], ws.canonical_a);
  for (size_t j = 0; j < ws.canonical_a.size(); ++j)
    logits[j] = static_cast<float>(ws.canonical_a[j] / kOne);
}

}  // namespace lowbit::runtime
