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
