#include "core/runtime/engine.h"

#include <omp.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "core/check.h"
#include "core/runtime/float_join.h"
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
void canonical(const int32_t* x, const std::vector<int64_t>& dims, std::vector<int32_t>& out) {
  out.resize(static_cast<size_t>(numel(dims)));
  if (dims.size() == 3)
    hwc_to_chw(x, dims[0], dims[1] * dims[2], out.data());
  else
    std::copy(x, x + out.size(), out.begin());
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
  // kInt8, per output channel, modulo 2^32: code_low sum_k w[o][k] over the whole window (empty
  // when all are 0), and, only when code 0 is not among the input codes, code_low sum_c
  // w[o][tap][c] of each tap (o, tap), taken off where the tap reads padding.
  std::vector<uint32_t> correction, tap_correction;
  // kInt8: the row byte of a tap that reads padding: code 0 as u = 0 - code_low when it is one of
  // the input codes (then every window's correction is the same), else 0 (and tap_correction).
  uint8_t pad_byte = 0;
  // kInt8 without groups at stride 1, channels a multiple of 4 and one correction for every
  // window: the GEMM reads the windows in place from the input codes padded on every side
  // (gemm_u8s8_taps), not from im2col rows.
  bool in_place = false;
  std::vector<int64_t> tap_offsets;  // in_place: tap (ky, kx) at (ky Wp + kx) C bytes
  // kInt8: the offsets z[o] subtracted from the weight codes to fit int8 (empty when all are 0).
  std::vector<int32_t> weight_offsets;
  // to_fixed and bias per output channel as plain arrays, so that requantize_block vectorizes:
  // multipliers (0 where to_fixed maps everything to 0), shifts (1 there) and rounding terms.
  std::vector<int32_t> multiplier;
  std::vector<int64_t> rounding;
  std::vector<int64_t> shift, bias;
  std::vector<int32_t> depthwise;  // kDepthwise: (kh, kw, C)
  LevelMap levels;                 // a kLevels operation's map
  ThresholdMap thresholds;         // a kThresholds operation's
  WideProduct wide;                // a kWideProduct's
  FloatJoin float_join;            // a kFloatJoin's
  // A product or an addition whose output only a clamp or a level map reads runs that operation
  // as it writes each value (into the follower's output, `output`), and the follower is `absorbed`
  // (skipped): one pass over the values less, the same integers.
  enum class Then { kNothing, kClamp, kLevels };
  Then then = Then::kNothing;
  int32_t then_high = INT32_MAX;  // kClamp: y = min(max(y, 0), high)
  LevelMap then_levels;           // kLevels
  int32_t output = 0;
  bool absorbed = false;
  // The bounds put on the values after their saturation to int32: an absorbed clamp's, or none.
  int64_t low_bound() const { return then == Then::kClamp ? 0 : INT32_MIN; }
  int64_t high_bound() const { return then == Then::kClamp ? then_high : INT32_MAX; }
};

struct Workspace {
  std::vector<std::vector<int32_t>> values;  // per slot (Engine::assign_slots), not per value
  std::vector<uint8_t> codes8, rows8, padded8;
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
    case OpKind::kFloatJoin: {
      const std::string error = float_join_shape_error(op.params, in);
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
// accumulator and correction added modulo 2^32 (kCorrected false: no correction), for `rows` rows
// of acc and y at once. Branch-free over o, so that the compiler vectorizes it; returns how many
// values were clamped to int32.
template <bool kCorrected>
int64_t requantize_block(const int32_t* __restrict acc, int64_t acc_stride, int64_t rows,
                         const uint32_t* __restrict correction, const PreparedOp& prep,
                         int64_t first, int64_t n, int32_t* __restrict y, int64_t y_stride) {
  const int32_t* __restrict m = prep.multiplier.data() + first;
  const int64_t* __restrict r = prep.rounding.data() + first;
  const int64_t* __restrict s = prep.shift.data() + first;
  const int64_t* __restrict b = prep.bias.data() + first;
  // An absorbed clamp: min(max(y, 0), high) after the saturation to int32.
  const int64_t low = prep.low_bound(), high = prep.high_bound();
  int64_t clamped = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const int32_t* __restrict a_row = acc + row * acc_stride;
    int32_t* __restrict y_row = y + row * y_stride;
    for (int64_t o = 0; o < n; ++o) {
      const uint32_t sum = static_cast<uint32_t>(a_row[o]) + (kCorrected ? correction[o] : 0u);
      const int64_t a = static_cast<int32_t>(sum);
      const int64_t v = ((a * int64_t{m[o]} + r[o]) >> s[o]) + b[o];
      clamped += (v > INT32_MAX) | (v < INT32_MIN);
      y_row[o] = static_cast<int32_t>(v > high ? high : (v < low ? low : v));
    }
    if (prep.then == PreparedOp::Then::kLevels)
      for (int64_t o = 0; o < n; ++o) y_row[o] = prep.then_levels.apply(y_row[o]);
  }
  return clamped;
}

#if defined(__x86_64__)
// GCC 12 warns that its own intrinsic headers read an uninitialized __Y (the _mm512_undefined_*
// source of unmasked conversions) at -O3: a false positive in the headers, not in this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// requantize_block in AVX-512, 8 channels a step in 64-bit lanes: vpmuldq for the 32 x 32 -> 64
// product (the compiler's vpmullq is several times slower), the int32 saturation and an absorbed
// clamp as one max and one min. The same integers; levels are left to the caller.
__attribute__((target("avx512f"))) int64_t requantize_block_avx512(
    const int32_t* acc, int64_t acc_stride, int64_t rows, const uint32_t* correction,
    const PreparedOp& prep, int64_t first, int64_t n, int32_t* y, int64_t y_stride) {
  const __m512i low = _mm512_set1_epi64(prep.low_bound());
  const __m512i high = _mm512_set1_epi64(prep.high_bound());
  const __m512i int32_min = _mm512_set1_epi64(INT32_MIN), int32_max = _mm512_set1_epi64(INT32_MAX);
  int64_t clamped = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const int32_t* a_row = acc + row * acc_stride;
    int32_t* y_row = y + row * y_stride;
    for (int64_t o = 0; o < n; o += 8) {
      const __mmask8 lanes = n - o >= 8 ? __mmask8(0xFF) : __mmask8((1u << (n - o)) - 1);
      __m256i sum = _mm256_maskz_loadu_epi32(lanes, a_row + o);
      if (correction) sum = _mm256_add_epi32(sum, _mm256_maskz_loadu_epi32(lanes, correction + o));
      const __m512i a = _mm512_cvtepi32_epi64(sum);
      const __m512i m = _mm512_cvtepi32_epi64(
          _mm256_maskz_loadu_epi32(lanes, prep.multiplier.data() + first + o));
      __m512i v =
          _mm512_add_epi64(_mm512_mul_epi32(a, m),
                           _mm512_maskz_loadu_epi64(lanes, prep.rounding.data() + first + o));
      v = _mm512_srav_epi64(v, _mm512_maskz_loadu_epi64(lanes, prep.shift.data() + first + o));
      v = _mm512_add_epi64(v, _mm512_maskz_loadu_epi64(lanes, prep.bias.data() + first + o));
      const __mmask8 out = _mm512_mask_cmpgt_epi64_mask(lanes, v, int32_max) |
                           _mm512_mask_cmplt_epi64_mask(lanes, v, int32_min);
      clamped += __builtin_popcount(out);
      v = _mm512_min_epi64(_mm512_max_epi64(v, low), high);
      _mm256_mask_storeu_epi32(y_row + o, lanes, _mm512_cvtepi64_epi32(v));
    }
    if (prep.then == PreparedOp::Then::kLevels)
      for (int64_t o = 0; o < n; ++o) y_row[o] = prep.then_levels.apply(y_row[o]);
  }
  return clamped;
}
#pragma GCC diagnostic pop
#endif

int64_t requantize_rows(const int32_t* acc, int64_t acc_stride, int64_t rows,
                        const uint32_t* correction, const PreparedOp& prep, int64_t first,
                        int64_t n, int32_t* y, int64_t y_stride) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512)
    return requantize_block_avx512(acc, acc_stride, rows, correction, prep, first, n, y, y_stride);
#endif
  return correction
             ? requantize_block<true>(acc, acc_stride, rows, correction, prep, first, n, y,
                                      y_stride)
             : requantize_block<false>(acc, acc_stride, rows, nullptr, prep, first, n, y, y_stride);
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
    prep.multiplier.push_back(zero ? 0 : f.multiplier);    // int32: a 32 x 32 -> 64-bit product
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
    // The rows hold u = k - low and the weights are packed as w - z:
    //   sum k w = sum u (w - z) + z sum u + low (sum of w over the window's taps).
    // Where the window reads padding (code 0), u = -low when code 0 is an input code, and the
    // identity holds over the whole window; else u = 0 there, and those taps' low w are taken
    // off. Every product is taken modulo 2^32, which is exact because the true sum fits int32.
    if (int8) {
      const int64_t taps = p.kernel_h * p.kernel_w;
      const bool zero_is_code = p.code_low <= 0 && p.code_high >= 0;
      prep.pad_byte = zero_is_code ? static_cast<uint8_t>(-p.code_low) : 0;
      for (int64_t o = 0; o < prep.group_out; ++o) {
        int64_t sum = 0;
        for (int64_t t = 0; t < taps; ++t) {
          int64_t tap = 0;
          for (int64_t c = 0; c < prep.group_in; ++c)
            tap += w[static_cast<size_t>(o * p.depth() + t * prep.group_in + c)];
          if (!zero_is_code)
            prep.tap_correction.push_back(static_cast<uint32_t>(int64_t{p.code_low} * tap));
          sum += tap;
        }
        prep.correction.push_back(static_cast<uint32_t>(int64_t{p.code_low} * sum));
      }
    }
  }
  if (std::all_of(prep.correction.begin(), prep.correction.end(),
                  [](uint32_t c) { return c == 0; }) &&
      prep.tap_correction.empty() && prep.weight_offsets.empty())
    prep.correction.clear();  // code_low 0: nothing to add
  prep.in_place = int8 && p.groups == 1 && p.stride == 1 && p.in_channels % 4 == 0 &&
                  prep.tap_correction.empty() && prep.weight_offsets.empty() &&
                  !(p.kernel_h == 1 && p.kernel_w == 1 && p.padding == 0);
  if (prep.in_place)
    for (int64_t ky = 0; ky < p.kernel_h; ++ky)
      for (int64_t kx = 0; kx < p.kernel_w; ++kx)
        prep.tap_offsets.push_back((ky * (prep.width + 2 * p.padding) + kx) * p.in_channels);
  return prep;
}

// im2col rows [begin, end) of group g: row q holds the codes under output position q in (kh, kw,
// C/groups) order, `pad` where the window leaves the image (code 0 on the int16 path; on the uint8
// path PreparedOp::pad_byte), zeros up to the padded depth. Without groups a window row's kw taps
// are adjacent pixels in the (H, W, C) layout: one copy of kw C codes, not kw copies of C.
template <class T>
void im2col(const ProductOp& p, const PreparedOp& prep, const T* codes, int64_t g, int64_t begin,
            int64_t end, T* rows, int64_t row_stride, T pad) {
  const int64_t c = p.in_channels, cg = prep.group_in, kw = p.kernel_w;
  for (int64_t q = begin; q < end; ++q) {
    const int64_t oy = q / prep.out_w, ox = q % prep.out_w;
    const int64_t x0 = ox * p.stride - p.padding;  // the window's first column
    // Taps [kx_begin, kx_end) of a window row read the image; the others read padding.
    const int64_t kx_begin = std::min(kw, std::max<int64_t>(0, -x0));
    const int64_t kx_end = std::max(kx_begin, std::min(kw, prep.width - x0));
    T* row = rows + q * row_stride;
    for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
      const int64_t iy = oy * p.stride - p.padding + ky;
      T* dst = row + ky * kw * cg;
      if (iy < 0 || iy >= prep.height) {
        std::fill(dst, dst + kw * cg, pad);
        continue;
      }
      std::fill(dst, dst + kx_begin * cg, pad);
      if (kx_end > kx_begin) {
        const T* src = codes + (iy * prep.width + x0 + kx_begin) * c + g * cg;
        if (p.groups == 1)
          std::memcpy(dst + kx_begin * c, src, sizeof(T) * (kx_end - kx_begin) * c);
        else
          for (int64_t kx = kx_begin; kx < kx_end; ++kx)
            std::memcpy(dst + kx * cg, src + (kx - kx_begin) * c, sizeof(T) * cg);
      }
      std::fill(dst + kx_end * cg, dst + kw * cg, pad);
    }
    std::fill(row + p.kernel_h * kw * cg, row + row_stride, T{0});
  }
}

// out[i] = clamp(to_codes(x[i]), code_low, code_high) - offset for i in [begin, end): a product's
// input codes, to_codes as (x m + 2^(s-1)) >> s (FixedPointMultiplier::apply). Plain locals and
// restrict pointers, so that the compiler vectorizes it.
template <class T>
void input_codes(const ProductOp& p, const int32_t* __restrict x, int64_t begin, int64_t end,
                 int32_t offset, T* __restrict out) {
  const bool to_zero = p.to_codes.multiplier == 0 || p.to_codes.shift >= 63;  // apply() gives 0
  const int64_t m = to_zero ? 0 : p.to_codes.multiplier, s = to_zero ? 1 : p.to_codes.shift;
  const int64_t r = int64_t{1} << (s - 1);
  const int32_t low = p.code_low, high = p.code_high;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t k = (int64_t{x[i]} * m + r) >> s;
    out[i] = static_cast<T>((k < low ? low : (k > high ? high : k)) - offset);
  }
}

// A PreparedOp::in_place product. The input codes go into an image padded by `padding` on every
// side (pad_byte there), Hp x Wp x C. Output position (oy, ox) is read as padded-grid position
// q = oy Wp + ox, whose window starts at byte q C and whose tap (ky, kx) lies (ky Wp + kx) C
// further on: consecutive q are C bytes apart, so one GEMM takes every q from 0 to (out_h - 1) Wp +
// out_w, and the q with ox >= out_w (windows that wrap past a row's end) are computed and dropped.
void run_in_place(const ProductOp& p, const PreparedOp& prep, const int32_t* x, int32_t* y,
                  Workspace& ws, bool parallel) {
  const int64_t c = p.in_channels, pad = p.padding, h = prep.height, w = prep.width;
  const int64_t hp = h + 2 * pad, wp = w + 2 * pad, outs = p.out_channels;
  ws.padded8.assign(static_cast<size_t>(hp * wp * c), prep.pad_byte);
  for_ranges(h, parallel, [&](int64_t b, int64_t e) {
    for (int64_t iy = b; iy < e; ++iy)
      input_codes(p, x + iy * w * c, 0, w * c, p.code_low,
                  ws.padded8.data() + ((iy + pad) * wp + pad) * c);
  });
  const PackedWeights& packed = prep.packed[0];
  const int64_t stride = packed.padded_out, positions = (prep.out_h - 1) * wp + prep.out_w;
  ws.acc.resize(static_cast<size_t>(positions * stride));
  const uint32_t* correction = prep.correction.empty() ? nullptr : prep.correction.data();
  int64_t saturated = 0;
  for_ranges(positions, parallel, [&](int64_t b, int64_t e) {
    gemm_u8s8_taps(ws.padded8.data() + b * c, e - b, c, prep.tap_offsets.data(),
                   static_cast<int64_t>(prep.tap_offsets.size()), packed,
                   ws.acc.data() + b * stride);
    int64_t local = 0;
    // Output row by output row: the run of q in [b, e) with ox < out_w.
    for (int64_t q = b; q < e;) {
      const int64_t oy = q / wp, ox = q % wp;
      const int64_t run = std::min(e - q, prep.out_w - ox);
      if (run > 0)
        local += requantize_rows(ws.acc.data() + q * stride, stride, run, correction, prep, 0, outs,
                                 y + (oy * prep.out_w + ox) * outs, outs);
      q += run > 0 ? run : wp - ox;  // past the row's end: to the next row's start
    }
    if (local) {
#pragma omp atomic
      saturated += local;
    }
  });
  ws.saturated += saturated;
}

// The fewest multiply-adds for which one image's layer is spread over the team: below it, waking
// the other threads (and, on a busy machine, waiting for one the scheduler has not run) costs
// more than they save. ResNet-20's layers (2.4M) spread; LeNet-5's (at most 0.24M) do not.
constexpr int64_t kParallelProducts = int64_t{1} << 20;

void run_product(const ProductOp& p, const PreparedOp& prep, const int32_t* x, int32_t* y,
                 Workspace& ws, bool parallel) {
  const int64_t n = p.in_channels * prep.height * prep.width;
  const int64_t positions = prep.out_h * prep.out_w, outs = p.out_channels;
  parallel = parallel && positions * outs * p.depth() >= kParallelProducts;
  // The codes clamp(to_codes(x), low, high); uint8 ones less low.
  using Path = PreparedOp::Path;
  if (prep.in_place) {
    run_in_place(p, prep, x, y, ws, parallel);
    return;
  }
  if (prep.path == Path::kInt8) {
    ws.codes8.resize(static_cast<size_t>(n));
    for_ranges(n, parallel, [&](int64_t b, int64_t e) {
      input_codes(p, x, b, e, p.code_low, ws.codes8.data());
    });
  } else if (prep.path == Path::kInt16) {
    ws.codes16.resize(static_cast<size_t>(n));
    for_ranges(n, parallel,
               [&](int64_t b, int64_t e) { input_codes(p, x, b, e, 0, ws.codes16.data()); });
  } else {
    ws.codes32.resize(static_cast<size_t>(n));
    for_ranges(n, parallel,
               [&](int64_t b, int64_t e) { input_codes(p, x, b, e, 0, ws.codes32.data()); });
  }

  int64_t saturated = 0;
  const int64_t taps = p.kernel_h * p.kernel_w;
  // y[q][first + o] = saturate(to_fixed(acc[q][o] + correction) + bias) for o < count and
  // positions [b, e).
  auto requantize = [&](const int32_t* acc, int64_t stride, int64_t first, int64_t count, int64_t b,
                        int64_t e) {
    int64_t local = 0;
    if (prep.tap_correction.empty() && prep.weight_offsets.empty()) {  // one for every window
      local = requantize_rows(acc + b * stride, stride, e - b,
                              prep.correction.empty() ? nullptr : prep.correction.data() + first,
                              prep, first, count, y + b * outs + first, outs);
      b = e;  // nothing left for the per-position loop below
    }
    std::vector<uint32_t> corrected(prep.correction.empty() ? 0 : static_cast<size_t>(count));
    for (int64_t q = b; q < e; ++q) {
      const uint32_t* correction = nullptr;
      const int64_t oy = q / prep.out_w, ox = q % prep.out_w;
      const int64_t y0 = oy * p.stride - p.padding, x0 = ox * p.stride - p.padding;
      const bool border =
          !prep.tap_correction.empty() &&
          (y0 < 0 || x0 < 0 || y0 + p.kernel_h > prep.height || x0 + p.kernel_w > prep.width);
      if (!prep.correction.empty() && !border && prep.weight_offsets.empty()) {
        correction = prep.correction.data() + first;  // the whole window's, as it is
      } else if (!prep.correction.empty()) {
        // The whole-window correction, less the taps that read padding (a border position), plus
        // the weight offsets' term.
        std::copy_n(prep.correction.data() + first, count, corrected.data());
        if (border)
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
      local += requantize_rows(acc + q * stride, stride, 1, correction, prep, first, count,
                               y + q * outs + first, outs);
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
            im2col<uint8_t>(p, prep, ws.codes8.data(), g, b, e, ws.rows8.data(), depth,
                            prep.pad_byte);
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
            im2col<int16_t>(p, prep, ws.codes16.data(), g, b, e, ws.rows16.data(), depth, 0);
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
      // The packed weights are all the engine reads from now on: the codes go, so that a loaded
      // model holds one copy of its weights.
      std::vector<int16_t>().swap(program_.ops[k].product.weight_codes);
      ++quantized_layers_;
      int8_layers_ += prepared_[k].path == PreparedOp::Path::kInt8;
      int16_layers_ += prepared_[k].path == PreparedOp::Path::kInt16;
      shift_layers_ +=
          !prepared_[k].packed.empty() && prepared_[k].packed[0].kernel == GemmKernel::kShift;
    }
    if (op.kind == OpKind::kLevels) prepared_[k].levels = level_map(op.params);
    if (op.kind == OpKind::kThresholds) prepared_[k].thresholds = threshold_map(op.params);
    if (op.kind == OpKind::kWideProduct) prepared_[k].wide = wide_product(op.params);
    if (op.kind == OpKind::kFloatJoin) prepared_[k].float_join = float_join(op.params);
    value_dims_[static_cast<size_t>(op.output)] = std::move(out);
  }
  absorb_followers();
  assign_slots();
  const std::vector<int64_t>& last = value_dims_[static_cast<size_t>(program_.ops.back().output)];
  LOWBIT_CHECK(numel(last) == program_.info.num_classes, "runtime: the program ends in ",
               numel(last), " values for ", program_.info.num_classes, " classes");
}

void Engine::absorb_followers() {
  std::vector<int> readers(static_cast<size_t>(program_.num_values), 0);
  std::vector<int64_t> reader(static_cast<size_t>(program_.num_values), -1);
  for (size_t k = 0; k < program_.ops.size(); ++k) {
    prepared_[k].output = program_.ops[k].output;
    for (int32_t v : program_.ops[k].inputs) {
      ++readers[static_cast<size_t>(v)];
      reader[static_cast<size_t>(v)] = static_cast<int64_t>(k);
    }
  }
  for (size_t k = 0; k < program_.ops.size(); ++k) {
    const Op& op = program_.ops[k];
    const auto v = static_cast<size_t>(op.output);
    if ((op.kind != OpKind::kProduct && op.kind != OpKind::kAdd) || readers[v] != 1) continue;
    const auto j = static_cast<size_t>(reader[v]);
    const Op& next = program_.ops[j];
    PreparedOp& prep = prepared_[k];
    if (next.kind == OpKind::kClamp) {
      prep.then = PreparedOp::Then::kClamp;
      prep.then_high = static_cast<int32_t>(std::min<int64_t>(next.params[0], INT32_MAX));
    } else if (next.kind == OpKind::kLevels) {
      prep.then = PreparedOp::Then::kLevels;
      prep.then_levels = prepared_[j].levels;
    } else {
      continue;
    }
    prep.output = next.output;
    prepared_[j].absorbed = true;
  }
}

void Engine::assign_slots() {
  const auto values = static_cast<size_t>(program_.num_values);
  const auto ops = static_cast<int64_t>(program_.ops.size());
  const int32_t result = program_.ops.back().output;
  // The last operation that reads each value (absorbed ones read nothing: their input is never
  // written); the program's result is read at the end.
  std::vector<int64_t> last_read(values, -1);
  for (int64_t k = 0; k < ops; ++k)
    if (!prepared_[size_t(k)].absorbed)
      for (int32_t v : program_.ops[size_t(k)].inputs) last_read[size_t(v)] = k;
  last_read[size_t(result)] = ops;
  slot_of_.assign(values, -1);
  slot_size_.clear();
  std::vector<int32_t> free_slots;
  // A free slot for `size` values: the smallest that holds them, else the largest (grown), else a
  // new one.
  auto take = [&](int64_t size) {
    int best = -1;
    for (int i = 0; i < static_cast<int>(free_slots.size()); ++i) {
      const int64_t have = slot_size_[size_t(free_slots[size_t(i)])];
      if (best < 0) {
        best = i;
        continue;
      }
      const int64_t best_have = slot_size_[size_t(free_slots[size_t(best)])];
      const bool fits = have >= size, best_fits = best_have >= size;
      // One that fits beats one that does not; then the smaller of two that fit, the larger of two
      // that do not.
      if (fits != best_fits ? fits : (fits ? have < best_have : have > best_have)) best = i;
    }
    if (best < 0) {
      slot_size_.push_back(size);
      return static_cast<int32_t>(slot_size_.size() - 1);
    }
    const int32_t slot = free_slots[size_t(best)];
    free_slots.erase(free_slots.begin() + best);
    slot_size_[size_t(slot)] = std::max(slot_size_[size_t(slot)], size);
    return slot;
  };
  slot_of_[0] = take(numel(value_dims_[0]));
  if (last_read[0] < 0) free_slots.push_back(slot_of_[0]);
  for (int64_t k = 0; k < ops; ++k) {
    const PreparedOp& prep = prepared_[size_t(k)];
    if (prep.absorbed) continue;
    // The output takes a slot while the inputs still hold theirs: no operation writes over what
    // it reads.
    const auto out = static_cast<size_t>(prep.output);
    slot_of_[out] = take(numel(value_dims_[out]));
    for (int32_t v : program_.ops[size_t(k)].inputs)
      if (last_read[size_t(v)] == k &&
          std::find(free_slots.begin(), free_slots.end(), slot_of_[size_t(v)]) == free_slots.end())
        free_slots.push_back(slot_of_[size_t(v)]);
    if (last_read[out] < k) free_slots.push_back(slot_of_[out]);  // written, never read
  }
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
  // Every slot at the size of its largest value, once per workspace (no zeroing per image).
  ws.values.resize(slot_size_.size());
  for (size_t s = 0; s < slot_size_.size(); ++s)
    if (ws.values[s].size() != static_cast<size_t>(slot_size_[s]))
      ws.values[s].resize(static_cast<size_t>(slot_size_[s]));
  auto value = [&](int32_t v) {
    return ws.values[static_cast<size_t>(slot_of_[size_t(v)])].data();
  };
  const std::vector<int64_t>& input = value_dims_[0];
  const int64_t size = numel(input);
  int32_t* x0 = value(0);
  // The input boundary: float to fixed point, as the integer model's llround(x 2^F).
  ws.canonical_a.resize(static_cast<size_t>(size));
  for (int64_t j = 0; j < size; ++j)
    ws.canonical_a[static_cast<size_t>(j)] =
        clamp_counted(std::llround(static_cast<double>(image[j]) * kOne), ws.saturated);
  if (input.size() == 3)
    chw_to_hwc(ws.canonical_a.data(), input[0], input[1] * input[2], x0);
  else
    std::copy(ws.canonical_a.begin(), ws.canonical_a.end(), x0);

  for (size_t k = 0; k < program_.ops.size(); ++k) {
    const Op& op = program_.ops[k];
    if (prepared_[k].absorbed) continue;  // done by the operation before it
    const std::vector<int64_t>& in = value_dims_[static_cast<size_t>(op.inputs[0])];
    const std::vector<int64_t>& out = value_dims_[static_cast<size_t>(op.output)];
    int32_t* y = value(prepared_[k].output);
    const auto ny = static_cast<size_t>(numel(out));
    const int32_t* x = value(op.inputs[0]);
    switch (op.kind) {
      case OpKind::kProduct:
        run_product(op.product, prepared_[k], x, y, ws, parallel_inside);
        break;
      case OpKind::kClamp: {
        const auto high = static_cast<int32_t>(std::min<int64_t>(op.params[0], INT32_MAX));
        for (size_t i = 0; i < ny; ++i) y[i] = std::min(std::max(x[i], 0), high);
        break;
      }
      case OpKind::kLevels: {
        const LevelMap& map = prepared_[k].levels;
        for (size_t i = 0; i < ny; ++i) y[i] = map.apply(x[i]);
        break;
      }
      case OpKind::kThresholds: {  // channels last; a (C) value is one position
        const int32_t* shortcut = op.inputs.size() > 1 ? value(op.inputs[1]) : nullptr;
        prepared_[k].thresholds.apply(x, shortcut, numel(out) / out[0], true, y);
        break;
      }
      case OpKind::kFloatJoin:  // channels last; a (C) value is one position
        prepared_[k].float_join.apply(x, value(op.inputs[1]), numel(out) / out[0], true, y);
        break;
      case OpKind::kWideProduct:  // channels last; a (C) value is a 1x1 image
        prepared_[k].wide.run(x, in.size() == 3 ? in[1] : 1, in.size() == 3 ? in[2] : 1, true, y);
        break;
      case OpKind::kMaxPool:
      case OpKind::kAvgPool:
        run_pool(op, in, out, x, y);
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
        std::fill(y, y + ny, 0);
        for (int64_t i = 0; i < ho; ++i)
          for (int64_t j = 0; j < wo; ++j)
            std::copy_n(x + ((i * s) * w + j * s) * c, c, y + (i * wo + j) * co);
        break;
      }
      case OpKind::kFlatten:
      case OpKind::kReshape:
        canonical(x, in, ws.canonical_a);
        if (out.size() == 3)
          chw_to_hwc(ws.canonical_a.data(), out[0], out[1] * out[2], y);
        else
          std::copy(ws.canonical_a.begin(), ws.canonical_a.end(), y);
        break;
      case OpKind::kAdd: {
        const int32_t* b = value(op.inputs[1]);
        // Saturated to int32, then an absorbed clamp's bounds (requantize_block's form).
        const PreparedOp& prep = prepared_[k];
        const int64_t low = prep.low_bound(), high = prep.high_bound();
        int64_t saturated = 0;
        for (size_t i = 0; i < ny; ++i) {
          const int64_t v = static_cast<int64_t>(x[i]) + b[i];
          saturated += (v > INT32_MAX) | (v < INT32_MIN);
          y[i] = static_cast<int32_t>(v > high ? high : (v < low ? low : v));
        }
        ws.saturated += saturated;
        if (prep.then == PreparedOp::Then::kLevels)
          for (size_t i = 0; i < ny; ++i) y[i] = prep.then_levels.apply(y[i]);
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
          canonical(value(op.inputs[k]), value_dims_[v], parts[k]);
        }
        ws.canonical_b.clear();
        for (int64_t o = 0; o < outer; ++o)
          for (const std::vector<int32_t>& part : parts) {
            const int64_t slab = static_cast<int64_t>(part.size()) / outer;
            ws.canonical_b.insert(ws.canonical_b.end(), part.begin() + o * slab,
                                  part.begin() + (o + 1) * slab);
          }
        if (out.size() == 3)
          chw_to_hwc(ws.canonical_b.data(), out[0], out[1] * out[2], y);
        else
          std::copy(ws.canonical_b.begin(), ws.canonical_b.end(), y);
        break;
      }
    }
  }
  const int32_t last = program_.ops.back().output;
  canonical(value(last), value_dims_[static_cast<size_t>(last)], ws.canonical_a);
  for (size_t j = 0; j < ws.canonical_a.size(); ++j)
    logits[j] = static_cast<float>(ws.canonical_a[j] / kOne);
}

}  // namespace lowbit::runtime
