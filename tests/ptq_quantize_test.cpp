// Post-training quantization grids (layers/quant/ptq_quantize.h): hand-computed levels and codes
// of each scheme, values exactly on the grid, per-channel against per-tensor, 8-bit error,
// constant and all-zero channels, and the errors for bad bit widths, names and values.
#include "layers/quant/ptq_quantize.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "core/check.h"
#include "core/rng.h"

using namespace lowbit;

namespace {

struct Quantized {
  std::vector<float> y;
  std::vector<uint16_t> codes;
  std::vector<PtqGrid> grids;
};

Quantized quantize(const std::vector<float>& x, PtqScheme scheme, int bits, int64_t channels = 1) {
  Quantized q;
  q.y.resize(x.size());
  q.codes.resize(x.size());
  const auto n = static_cast<int64_t>(x.size());
  q.grids =
      ptq_quantize(x.data(), channels, n / channels, scheme, bits, q.y.data(), q.codes.data());
  return q;
}

std::vector<float> gaussian(int64_t n, uint64_t seed, float stddev = 0.1f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.normal(0.0f, stddev);
  return v;
}

}  // namespace

TEST_CASE("asymmetric quantization maps [min, max] onto 2^n levels", "[ptq]") {
  // 2 bits on [-1, 2]: step 3/3 = 1, levels -1, 0, 1, 2 (codes 0..3).
  const Quantized a = quantize({-1.0f, -0.25f, 0.4f, 2.0f}, PtqScheme::kAsymmetric, 2);
  CHECK(a.y == std::vector<float>{-1.0f, 0.0f, 0.0f, 2.0f});
  CHECK(a.codes == std::vector<uint16_t>{0, 1, 1, 3});
  CHECK(a.grids[0].offset == -1.0);
  CHECK(a.grids[0].step == 1.0);
  CHECK(ptq_levels(a.grids[0]) == 4);
  // 3 bits on [0, 7]: step 1; zero is a level here because it is the minimum.
  const Quantized b = quantize({0.0f, 0.3f, 0.7f, 7.0f, 4.49f}, PtqScheme::kAsymmetric, 3);
  CHECK(b.y == std::vector<float>{0.0f, 0.0f, 1.0f, 7.0f, 4.0f});
  CHECK(b.codes == std::vector<uint16_t>{0, 0, 1, 7, 4});
}

TEST_CASE("symmetric quantization uses 2^(n-1)-1 levels each side of zero", "[ptq]") {
  // 3 bits: |q| <= 3, step = 1.5 / 3 = 0.5.
  const Quantized a = quantize({-0.9f, -0.2f, 0.1f, 0.5f, 1.5f}, PtqScheme::kSymmetric, 3);
  CHECK(a.y == std::vector<float>{-1.0f, 0.0f, 0.0f, 0.5f, 1.5f});
  CHECK(a.codes == std::vector<uint16_t>{1, 3, 3, 4, 6});
  CHECK(ptq_levels(a.grids[0]) == 7);
  // 2 bits is ternary: {-max, 0, max}.
  const Quantized t = quantize({-0.9f, 0.3f, 0.6f, 1.0f}, PtqScheme::kSymmetric, 2);
  CHECK(t.y == std::vector<float>{-1.0f, 0.0f, 1.0f, 1.0f});
  CHECK(ptq_levels(t.grids[0]) == 3);
}

TEST_CASE("round_log2 rounds in the log domain at 2^(k+1/2), exactly", "[ptq]") {
  CHECK(round_log2(1.0f) == 0);
  CHECK(round_log2(0.5f) == -1);
  CHECK(round_log2(std::ldexp(1.0f, -20)) == -20);
  CHECK(round_log2(1.4142f) == 0);  // below sqrt(2)
  CHECK(round_log2(1.4143f) == 1);
  CHECK(round_log2(3.0f) == 2);      // log2 3 = 1.58
  CHECK(round_log2(0.7071f) == -1);  // just below 2^-1/2 = 0.707107
  CHECK(round_log2(0.7072f) == 0);
  CHECK(round_log2(std::numeric_limits<float>::denorm_min()) == -149);
}

TEST_CASE("power-of-two quantization keeps the largest exponent and 2^(n-1)-1 exponents", "[ptq]") {
  // 3 bits: max|x| = 0.9 -> max_exp round(log2 0.9) = 0; K = 3 exponents 0, -1, -2:
  // levels 0, ±1/4, ±1/2, ±1 (7 codes). 0.72 goes to 1 (log-domain rounding: 0.72 > 2^-1/2),
  // 0.13 below the smallest level goes to 1/4 (nearer than 0), 0.05 to zero.
  const Quantized a =
      quantize({0.9f, -0.3f, 0.05f, 0.13f, 0.0f, -0.7f, 0.72f}, PtqScheme::kPow2, 3);
  CHECK(a.y == std::vector<float>{1.0f, -0.25f, 0.0f, 0.25f, 0.0f, -0.5f, 1.0f});
  CHECK(a.codes == std::vector<uint16_t>{3, 4, 0, 1, 0, 5, 3});
  CHECK(a.grids[0].max_exp == 0);
  CHECK(a.grids[0].min_exp == -2);
  CHECK(ptq_levels(a.grids[0]) == 7);
  // 2 bits: ternary {0, ±2^max_exp}; max|x| = 0.6 -> max_exp = round(-0.74) = -1, levels 0, ±1/2:
  // 0.3 and 0.2 lie below 1/2 in the log domain; 0.3 is linearly nearer 1/2 (>= 1/4), 0.2 nearer 0.
  const Quantized t = quantize({0.6f, -0.2f, 0.3f, 0.1f}, PtqScheme::kPow2, 2);
  CHECK(t.y == std::vector<float>{0.5f, 0.0f, 0.5f, 0.0f});
  // pow2-free: the exponents the data has; bits = ceil(log2(2K + 1)).
  const Quantized f = quantize({0.9f, -0.3f, 0.0f, std::ldexp(1.0f, -10)}, PtqScheme::kPow2Free, 0);
  CHECK(f.y == std::vector<float>{1.0f, -0.25f, 0.0f, std::ldexp(1.0f, -10)});
  CHECK(f.grids[0].min_exp == -10);
  CHECK(f.grids[0].max_exp == 0);
  CHECK(ptq_levels(f.grids[0]) == 23);
  CHECK(f.grids[0].bits == 5);
}

TEST_CASE("every quantized value lies exactly on its grid, and codes decode to it", "[ptq]") {
  const std::vector<float> x = gaussian(2000, 7);
  for (PtqScheme s :
       {PtqScheme::kAsymmetric, PtqScheme::kSymmetric, PtqScheme::kPow2, PtqScheme::kPow2Free}) {
    for (int bits = kPtqMinBits; bits <= 8; ++bits) {
      const Quantized q = quantize(x, s, bits);
      const PtqGrid& g = q.grids[0];
      INFO(ptq_scheme_name(s) << " at " << bits << " bits");
      CHECK(std::set<float>(q.y.begin(), q.y.end()).size() <= static_cast<size_t>(ptq_levels(g)));
      CHECK(ptq_levels(g) <= (int64_t{1} << g.bits));
      for (size_t i = 0; i < x.size(); ++i) {
        REQUIRE(q.codes[i] < (1u << g.bits));
        REQUIRE(ptq_value(q.codes[i], g) == q.y[i]);
        if (s == PtqScheme::kAsymmetric || s == PtqScheme::kSymmetric) {
          const double k = (q.y[i] - g.offset) / g.step;  // an integer number of steps
          REQUIRE(std::fabs(k - std::round(k)) < 1e-3);
        } else if (q.y[i] != 0.0f) {
          int e = 0;
          REQUIRE(std::frexp(std::fabs(q.y[i]), &e) == 0.5f);  // a power of two
        }
      }
      if (s == PtqScheme::kPow2Free) break;  // no bit width
    }
  }
}

TEST_CASE("at 8 bits the quantization error is within half a step", "[ptq]") {
  const std::vector<float> x = gaussian(5000, 11);
  const Quantized a = quantize(x, PtqScheme::kAsymmetric, 8);
  const Quantized s = quantize(x, PtqScheme::kSymmetric, 8);
  const Quantized p = quantize(x, PtqScheme::kPow2, 8);
  double amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(static_cast<double>(v)));
  for (size_t i = 0; i < x.size(); ++i) {
    REQUIRE(std::fabs(a.y[i] - x[i]) <= a.grids[0].step * 0.5 + 1e-7);
    REQUIRE(std::fabs(s.y[i] - x[i]) <= s.grids[0].step * 0.5 + 1e-7);
    // 127 exponents reach far below any of these values: within a factor 2^(1/2).
    REQUIRE(std::fabs(p.y[i]) <= std::fabs(x[i]) * 1.4142136f);
    REQUIRE(std::fabs(p.y[i]) >= std::fabs(x[i]) / 1.4142136f);
  }
  CHECK(s.grids[0].step == Approx(amax / 127));
}

TEST_CASE("per-channel grids differ from the per-tensor grid where channel ranges differ",
          "[ptq]") {
  // Two channels of three values: a wide one and a narrow one.
  const std::vector<float> x = {1.0f, -1.0f, 0.5f, 0.012f, -0.02f, 0.004f};
  const Quantized tensor = quantize(x, PtqScheme::kSymmetric, 3, 1);
  const Quantized channel = quantize(x, PtqScheme::kSymmetric, 3, 2);
  REQUIRE(tensor.grids.size() == 1);
  REQUIRE(channel.grids.size() == 2);
  // The wide channel sets the per-tensor range, so both agree on it...
  for (size_t i = 0; i < 3; ++i) CHECK(tensor.y[i] == channel.y[i]);
  // ...but per tensor the narrow channel falls entirely to zero, per channel it keeps its shape.
  for (size_t i = 3; i < 6; ++i) CHECK(tensor.y[i] == 0.0f);
  // Narrow channel: step 0.02/3; 0.012 is 1.8 steps -> 2, 0.004 is 0.6 steps -> 1.
  CHECK(channel.grids[1].step == Approx(0.02 / 3));
  CHECK(channel.y[3] == Approx(0.04 / 3));
  CHECK(channel.y[4] == Approx(-0.02));
  CHECK(channel.y[5] == Approx(0.02 / 3));
}

TEST_CASE("constant and all-zero channels quantize to themselves", "[ptq]") {
  const std::vector<float> constant(5, 0.3f), zeros(5, 0.0f);
  const Quantized a = quantize(constant, PtqScheme::kAsymmetric, 4);
  for (float v : a.y) CHECK(v == 0.3f);
  CHECK(a.grids[0].step == 0.0);
  const Quantized s = quantize(constant, PtqScheme::kSymmetric, 4);
  for (float v : s.y) CHECK(v == Approx(0.3f));
  for (PtqScheme scheme :
       {PtqScheme::kAsymmetric, PtqScheme::kSymmetric, PtqScheme::kPow2, PtqScheme::kPow2Free}) {
    const Quantized z = quantize(zeros, scheme, 3);
    for (float v : z.y) CHECK(v == 0.0f);
    CHECK(z.grids[0].bits >= 1);
  }
  CHECK(quantize(zeros, PtqScheme::kPow2, 3).codes == std::vector<uint16_t>(5, 0));
  CHECK(quantize(zeros, PtqScheme::kPow2Free, 0).grids[0].bits == 1);
}

TEST_CASE("bad bit widths, names and values are errors that say what was expected", "[ptq]") {
  const std::vector<float> x = {0.1f, 0.2f};
  std::vector<float> y(2);
  for (int bits : {1, 0, 17, -3}) {
    CHECK_THROWS_WITH(
        ptq_quantize(x.data(), 1, 2, PtqScheme::kSymmetric, bits, y.data(), nullptr),
        Catch::Contains("bit width " + std::to_string(bits)) && Catch::Contains("expected 2..16"));
  }
  CHECK_NOTHROW(ptq_quantize(x.data(), 1, 2, PtqScheme::kPow2Free, 0, y.data(), nullptr));
  const std::vector<float> bad = {0.1f, std::nanf("")};
  CHECK_THROWS_WITH(ptq_quantize(bad.data(), 1, 2, PtqScheme::kAsymmetric, 4, y.data(), nullptr),
                    Catch::Contains("not finite") && Catch::Contains("index 1"));
  const std::vector<float> huge = {3.0e38f, 1.0f};  // log2 = 127.8 rounds to 128: no such float
  CHECK_THROWS_WITH(ptq_quantize(huge.data(), 1, 2, PtqScheme::kPow2, 8, y.data(), nullptr),
                    Catch::Contains("2^128") && Catch::Contains("beyond float's range"));
  CHECK_NOTHROW(ptq_quantize(huge.data(), 1, 2, PtqScheme::kSymmetric, 8, y.data(), nullptr));
  CHECK_THROWS_WITH(parse_ptq_scheme("log"),
                    Catch::Contains("'log'") && Catch::Contains("asym, sym, pow2"));
  CHECK_THROWS_WITH(parse_ptq_granularity("row"), Catch::Contains("tensor or channel"));
  for (Granularity g : {Granularity::kScalar, Granularity::kVector})
    CHECK(parse_ptq_granularity(ptq_granularity_name(g)) == g);
  CHECK(std::string(ptq_granularity_name(Granularity::kScalar)) == "tensor");
  CHECK(parse_ptq_scheme("pow2-free") == PtqScheme::kPow2Free);
  CHECK(ptq_spec_label(PtqSpec{PtqScheme::kSymmetric, 3, Granularity::kScalar}) == "sym-3");
}

TEST_CASE("parse_ptq_spec_label reads back every label and refuses others by name", "[ptq]") {
  for (const PtqScheme scheme :
       {PtqScheme::kAsymmetric, PtqScheme::kSymmetric, PtqScheme::kPow2, PtqScheme::kPow2Free})
    for (const int bits : {2, 4, 8, 16}) {
      const PtqSpec spec{scheme, scheme == PtqScheme::kPow2Free ? 0 : bits, Granularity::kVector};
      const PtqSpec back = parse_ptq_spec_label(ptq_spec_label(spec), Granularity::kVector);
      CHECK(back.scheme == spec.scheme);
      CHECK(back.bits == spec.bits);
      CHECK(back.granularity == Granularity::kVector);
    }
  for (const char* bad : {"sym", "sym-", "sym-1", "sym-17", "asym-4x", "foo-4", "pow2-free-3", ""})
    CHECK_THROWS_WITH(parse_ptq_spec_label(bad, Granularity::kScalar),
                      Catch::Contains("quantization") || Catch::Contains("scheme"));
}
