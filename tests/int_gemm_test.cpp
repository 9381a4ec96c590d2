// The runtime's integer GEMMs (core/runtime/int_gemm.h): every kernel this CPU runs gives the
// exact sums of the plain C++ one, over sizes that leave partial tiles and blocks everywhere and
// over the extreme codes (uint8 255 against int8 -128, int16 codes near their limits).
#include "core/runtime/int_gemm.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <vector>

#include "core/check.h"
#include "core/rng.h"

using namespace lowbit;
using namespace lowbit::runtime;

namespace {

// acc[p][o] = sum_k x[p][k] w[o][k] in 64 bits, the reference.
std::vector<int64_t> reference(const std::vector<int32_t>& x, const std::vector<int16_t>& w,
                               int64_t positions, int64_t out, int64_t depth) {
  std::vector<int64_t> acc(static_cast<size_t>(positions * out), 0);
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < depth; ++k)
        acc[static_cast<size_t>(p * out + o)] +=
            int64_t{x[static_cast<size_t>(p * depth + k)]} * w[static_cast<size_t>(o * depth + k)];
  return acc;
}

// The rows padded to the packed depth, with junk in the padding (its weights are 0).
template <class T>
std::vector<T> padded_rows(const std::vector<int32_t>& x, int64_t positions, int64_t depth,
                           int64_t padded) {
  std::vector<T> rows(static_cast<size_t>(positions * padded), T(99));
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t k = 0; k < depth; ++k)
      rows[static_cast<size_t>(p * padded + k)] =
          static_cast<T>(x[static_cast<size_t>(p * depth + k)]);
  return rows;
}

int64_t mismatches(const std::vector<int32_t>& acc, const std::vector<int64_t>& want,
                   int64_t positions, int64_t out, int64_t stride) {
  int64_t bad = 0;
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t o = 0; o < out; ++o)
      bad += acc[static_cast<size_t>(p * stride + o)] != want[static_cast<size_t>(p * out + o)];
  return bad;
}

}  // namespace

TEST_CASE("every integer GEMM kernel gives the exact sums", "[runtime][gemm]") {
  Rng rng(1);
  for (int64_t positions : {1, 5, 6, 7, 13, 50})
    for (int64_t out : {1, 8, 15, 16, 17, 64, 70})
      for (int64_t depth : {1, 3, 4, 9, 27, 144}) {
        // uint8 rows and int8 weights, the extremes included.
        std::vector<int32_t> x(static_cast<size_t>(positions * depth));
        std::vector<int16_t> w(static_cast<size_t>(out * depth));
        for (auto& v : x)
          v = rng.uniform(0.0f, 1.0f) < 0.2f ? 255
                                             : static_cast<int32_t>(rng.uniform(0.0f, 255.99f));
        for (auto& v : w)
          v = rng.uniform(0.0f, 1.0f) < 0.2f ? -128
                                             : static_cast<int16_t>(rng.uniform(-128.0f, 127.99f));
        const std::vector<int64_t> want = reference(x, w, positions, out, depth);
        INFO(positions << " positions, " << out << " outputs, depth " << depth);
        for (GemmKernel kernel : {GemmKernel::kPortable, GemmKernel::kAvx2, GemmKernel::kVnni}) {
          if (!cpu_supports(kernel)) continue;
          INFO("kernel " << kernel_name(kernel));
          const PackedWeights packed = pack_weights(kernel, w.data(), out, depth);
          CHECK(packed.padded_out % channel_block(kernel) == 0);
          std::vector<int32_t> acc(static_cast<size_t>(positions * packed.padded_out));
          if (kernel == GemmKernel::kVnni) {
            const auto rows = padded_rows<uint8_t>(x, positions, depth, packed.padded_depth);
            gemm_u8s8(rows.data(), positions, packed, acc.data());
          } else {
            const auto rows = padded_rows<int16_t>(x, positions, depth, packed.padded_depth);
            gemm_i16(rows.data(), positions, packed, acc.data());
          }
          CHECK(mismatches(acc, want, positions, out, packed.padded_out) == 0);
        }
      }
}

TEST_CASE("the int16 kernels take codes of up to 16 bits", "[runtime][gemm]") {
  Rng rng(2);
  const int64_t positions = 9, out = 11, depth = 10;
  std::vector<int32_t> x(static_cast<size_t>(positions * depth));
  std::vector<int16_t> w(static_cast<size_t>(out * depth));
  for (auto& v : x) v = static_cast<int32_t>(rng.uniform(-3000.0f, 3000.0f));
  for (auto& v : w) v = static_cast<int16_t>(rng.uniform(-3000.0f, 3000.0f));
  const std::vector<int64_t> want = reference(x, w, positions, out, depth);
  for (GemmKernel kernel : {GemmKernel::kPortable, GemmKernel::kAvx2}) {
    if (!cpu_supports(kernel)) continue;
    const PackedWeights packed = pack_weights(kernel, w.data(), out, depth);
    const auto rows = padded_rows<int16_t>(x, positions, depth, packed.padded_depth);
    std::vector<int32_t> acc(static_cast<size_t>(positions * packed.padded_out));
    gemm_i16(rows.data(), positions, packed, acc.data());
    CHECK(mismatches(acc, want, positions, out, packed.padded_out) == 0);
  }
  if (cpu_supports(GemmKernel::kVnni))
    CHECK_THROWS_WITH(
        pack_weights(GemmKernel::kVnni, w.data(), out, depth),
        Catch::StartsWith("pack_weights: code ") && Catch::EndsWith("does not fit int8"));
}

TEST_CASE("LOWBIT_RUNTIME_KERNEL picks the kernel, and names a wrong one", "[runtime][gemm]") {
  const char* old = std::getenv("LOWBIT_RUNTIME_KERNEL");
  const std::string saved = old ? old : "";
  ::setenv("LOWBIT_RUNTIME_KERNEL", "portable", 1);
  CHECK(best_kernel() == GemmKernel::kPortable);
  ::setenv("LOWBIT_RUNTIME_KERNEL", "sse9", 1);
  CHECK_THROWS_WITH(best_kernel(),
                    "LOWBIT_RUNTIME_KERNEL=sse9: expected vnni, avx2, portable or shift");
  if (old)
    ::setenv("LOWBIT_RUNTIME_KERNEL", saved.c_str(), 1);
  else
    ::unsetenv("LOWBIT_RUNTIME_KERNEL");
  CHECK(cpu_supports(best_kernel()));
}

TEST_CASE("gemm_u8s8_taps reads a stride-1 convolution's windows in place", "[runtime][gemm]") {
  if (!cpu_supports(GemmKernel::kVnni)) return;
  Rng rng(2);
  for (int64_t c : {4, 8, 20, 64})
    for (int64_t out : {1, 16, 17, 70})
      for (int64_t kernel : {1, 3}) {
        // A (h, w, c) image padded by 1 on every side, the padding holding byte 7.
        const int64_t h = 5, w = 7, pad = 1, hp = h + 2 * pad, wp = w + 2 * pad;
        std::vector<uint8_t> image(static_cast<size_t>(hp * wp * c), 7);
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x)
            for (int64_t k = 0; k < c; ++k)
              image[static_cast<size_t>(((y + pad) * wp + x + pad) * c + k)] =
                  rng.uniform(0.0f, 1.0f) < 0.2f ? 255
                                                 : static_cast<uint8_t>(rng.uniform(0.0f, 255.99f));
        const int64_t depth = kernel * kernel * c, out_h = hp - kernel + 1, out_w = wp - kernel + 1;
        std::vector<int16_t> weights(static_cast<size_t>(out * depth));
        for (auto& v : weights)
          v = rng.uniform(0.0f, 1.0f) < 0.2f ? -128
                                             : static_cast<int16_t>(rng.uniform(-128.0f, 127.99f));
        // The windows as explicit rows (ky, kx, c), the reference's input.
        std::vector<int32_t> rows;
        for (int64_t oy = 0; oy < out_h; ++oy)
          for (int64_t ox = 0; ox < out_w; ++ox)
            for (int64_t ky = 0; ky < kernel; ++ky)
              for (int64_t kx = 0; kx < kernel; ++kx)
                for (int64_t k = 0; k < c; ++k)
                  rows.push_back(image[static_cast<size_t>(((oy + ky) * wp + ox + kx) * c + k)]);
        const std::vector<int64_t> want = reference(rows, weights, out_h * out_w, out, depth);

        const PackedWeights packed = pack_weights(GemmKernel::kVnni, weights.data(), out, depth);
        std::vector<int64_t> taps;
        for (int64_t ky = 0; ky < kernel; ++ky)
          for (int64_t kx = 0; kx < kernel; ++kx) taps.push_back((ky * wp + kx) * c);
        const int64_t positions = (out_h - 1) * wp + out_w;
        std::vector<int32_t> acc(static_cast<size_t>(positions * packed.padded_out));
        gemm_u8s8_taps(image.data(), positions, c, taps.data(), static_cast<int64_t>(taps.size()),
                       packed, acc.data());
        int64_t bad = 0;
        for (int64_t oy = 0; oy < out_h; ++oy)
          for (int64_t ox = 0; ox < out_w; ++ox)
            for (int64_t o = 0; o < out; ++o)
              bad += acc[static_cast<size_t>((oy * wp + ox) * packed.padded_out + o)] !=
                     want[static_cast<size_t>((oy * out_w + ox) * out + o)];
        INFO(c << " channels, " << out << " outputs, kernel " << kernel);
        CHECK(bad == 0);
      }
  // Taps that do not split the depth into whole 4-byte steps are refused.
  const std::vector<int16_t> weights(static_cast<size_t>(16 * 18), 1);
  const PackedWeights packed = pack_weights(GemmKernel::kVnni, weights.data(), 16, 18);
  const std::vector<int64_t> taps(9, 0);
  std::vector<uint8_t> image(64, 0);
  std::vector<int32_t> acc(16);
  CHECK_THROWS_WITH(gemm_u8s8_taps(image.data(), 1, 2, taps.data(), 9, packed, acc.data()),
                    Catch::Contains("9 taps do not split a depth of 20 into 4-byte steps"));
}
