// The shift-add kernel (core/runtime/shift_gemm.h): on power-of-two codes it gives the exact sums
// of the plain products, in its vector and its plain C++ form, the extremes of the codes included;
// codes that are not powers of two are refused.
#include "core/runtime/shift_gemm.h"

#include <catch2/catch.hpp>
#include <vector>

#include "core/check.h"
#include "core/rng.h"

using namespace lowbit;
using namespace lowbit::runtime;

namespace {

// Random codes 0 or +-2^e with e in 0..top, and rows in [-x_max, x_max], the extremes included;
// the kernel's sums against the int64 products.
void check_sums(int64_t positions, int64_t out, int64_t depth, int top, int x_max, Rng& rng) {
  std::vector<int16_t> w(static_cast<size_t>(out * depth));
  for (auto& v : w) {
    const float u = rng.uniform(0.0f, 1.0f);
    const int e = static_cast<int>(rng.uniform(0.0f, top + 0.99f));
    v = static_cast<int16_t>(u < 0.2f ? 0 : (u < 0.6f ? -1 : 1) * (1 << (u > 0.95f ? top : e)));
  }
  std::vector<int16_t> rows(static_cast<size_t>(positions * depth));
  for (auto& v : rows) {
    const float u = rng.uniform(0.0f, 1.0f);
    v = static_cast<int16_t>(u < 0.1f ? -x_max : u < 0.2f ? x_max : rng.uniform(-x_max, x_max));
  }
  PackedWeights packed = pack_weights(GemmKernel::kShift, w.data(), out, depth);
  CHECK(packed.padded_depth == depth);
  CHECK(packed.padded_out % 16 == 0);
  std::vector<int32_t> vector_acc(static_cast<size_t>(positions * packed.padded_out), 7),
      plain_acc = vector_acc;
  gemm_shift(rows.data(), positions, packed, vector_acc.data());
  gemm_shift_portable(rows.data(), positions, packed, plain_acc.data());
  int64_t bad = 0;
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t o = 0; o < packed.padded_out; ++o) {
      int64_t want = 0;
      for (int64_t k = 0; k < depth && o < out; ++k)
        want += int64_t{rows[size_t(p * depth + k)]} * w[size_t(o * depth + k)];
      const size_t at = static_cast<size_t>(p * packed.padded_out + o);
      bad += vector_acc[at] != want || plain_acc[at] != want;
    }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("the shift kernel gives the exact sums of power-of-two products", "[runtime][gemm]") {
  Rng rng(3);
  for (int64_t positions : {1, 5, 6, 7, 13})
    for (int64_t out : {1, 15, 16, 17, 40})
      for (int64_t depth : {1, 9, 150}) {
        INFO(positions << " positions, " << out << " outputs, depth " << depth);
        check_sums(positions, out, depth, 3, 4, rng);     // 4-bit weights, 3-bit activations
        check_sums(positions, out, depth, 7, 1000, rng);  // wider codes
      }
  check_sums(6, 17, 1, 14, 32767, rng);  // 2^14 x 32767: the largest product
}

TEST_CASE("the shift kernel refuses codes that are not powers of two", "[runtime][gemm]") {
  const std::vector<int16_t> w{1, -2, 0, 3};
  CHECK_FALSE(shift_codes(w.data(), 4));
  CHECK(shift_codes(w.data(), 3));
  const std::vector<int16_t> big{-32768};
  CHECK_FALSE(shift_codes(big.data(), 1));
  CHECK_THROWS_WITH(pack_weights(GemmKernel::kShift, w.data(), 1, 4),
                    "pack_shift_weights: codes other than 0 and +-2^e (e <= 14)");
}
