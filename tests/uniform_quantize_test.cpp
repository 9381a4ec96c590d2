// The uniform quantization kernels (FAT eq. 1-9, 13-23): hand-computed forward values on the
// grid, the straight-through backward of eq. 16-19 element by element, int32 bias codes (eq. 20).
#include "layers/kernels/uniform_quantize.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"

using namespace lowbit::kernels;

namespace {

// The gradients of one element (dy = 1 there, 0 elsewhere) through the symmetric backward.
struct SymmetricSlopes {
  float dx, dthreshold;
};

SymmetricSlopes symmetric_slopes(const std::vector<float>& x, size_t i, float t, CodeRange codes) {
  std::vector<float> dy(x.size(), 0.0f), dx(x.size(), 0.0f);
  dy[i] = 1.0f;
  float dt = 0.0f;
  symmetric_quantize_backward(1, 1, static_cast<int64_t>(x.size()), x.data(), &t, codes, dy.data(),
                              dx.data(), &dt);
  return {dx[i], dt};
}

struct AsymmetricSlopes {
  float dx, dleft, dwidth;
};

AsymmetricSlopes asymmetric_slopes(const std::vector<float>& x, size_t i, float left, float width,
                                   int bits) {
  std::vector<float> dy(x.size(), 0.0f), dx(x.size(), 0.0f);
  dy[i] = 1.0f;
  float dl = 0.0f, dw = 0.0f;
  asymmetric_quantize_backward(1, 1, static_cast<int64_t>(x.size()), x.data(), &left, &width, bits,
                               dy.data(), dx.data(), &dl, &dw);
  return {dx[i], dl, dw};
}

}  // namespace

TEST_CASE("uniform_quantize: code ranges of eq. 4, 8 (signed) and 9 (unsigned)",
          "[uniform_quantize]") {
  for (int bits = 2; bits <= 8; ++bits) {
    const CodeRange s = symmetric_codes(bits, true), u = symmetric_codes(bits, false);
    CHECK(s.high == static_cast<float>((1 << (bits - 1)) - 1));
    CHECK(s.low == -s.high);
    CHECK(u.low == 0.0f);
    CHECK(u.high == static_cast<float>((1 << bits) - 1));
  }
}

TEST_CASE("uniform_quantize: symmetric signed 3-bit values, hand-computed", "[uniform_quantize]") {
  // T = 1.5, codes -3..3: S = 2, step 0.5. Ties round to even (0.25 -> code 0.5 -> 0, 0.75 -> 1.5
  // -> 2).
  const std::vector<float> x{-2.0f, -0.8f, -0.2f, 0.0f, 0.25f, 0.26f,
                             0.74f, 0.75f, 1.0f,  1.3f, 5.0f};
  const std::vector<float> expected{-1.5f, -1.0f, 0.0f, 0.0f, 0.0f, 0.5f,
                                    0.5f,  1.0f,  1.0f, 1.5f, 1.5f};
  std::vector<float> y(x.size());
  const float t = 1.5f;
  symmetric_quantize_forward(1, 1, static_cast<int64_t>(x.size()), x.data(), &t,
                             symmetric_codes(3, true), y.data());
  CHECK(y == expected);
}

TEST_CASE("uniform_quantize: symmetric unsigned 2-bit values and per-channel thresholds",
          "[uniform_quantize]") {
  // Unsigned 2-bit: codes 0..3. Channel 0: T = 3 (step 1); channel 1: T = 0.75 (step 0.25); channel
  // 2: T = 0. x: (outer 2, channels 3, inner 2)
  const std::vector<float> x{-1.0f, 2.5f, 0.3f,  0.4f, 5.0f, -5.0f,
                             3.4f,  0.6f, -0.1f, 9.0f, 1.0f, 0.0f};
  const std::vector<float> expected{0.0f, 2.0f, 0.25f, 0.5f,  0.0f, 0.0f,
                                    3.0f, 1.0f, 0.0f,  0.75f, 0.0f, 0.0f};
  const std::vector<float> t{3.0f, 0.75f, 0.0f};
  std::vector<float> y(x.size());
  symmetric_quantize_forward(2, 3, 2, x.data(), t.data(), symmetric_codes(2, false), y.data());
  CHECK(y == expected);
}

TEST_CASE(
    "uniform_quantize: symmetric backward is eq. 17 and 19 (round' = 1, clip' on round's output)",
    "[uniform_quantize]") {
  // T = 1.5, signed 3-bit, S = 2. Unclipped: dx = 1, dT = (k - u) / 3; clipped: dx = 0, dT = k / 3.
  const std::vector<float> x{-2.0f, -0.8f, 0.26f, 0.74f, 1.3f, 1.7f, 5.0f};
  const CodeRange codes = symmetric_codes(3, true);
  struct Expect {
    float dx, dt;
  };
  const std::vector<Expect> expected{
      {0.0f, -1.0f},               // u = -4 -> round -4 is clipped to -3: dT = -3/3
      {1.0f, (-2.0f + 1.6f) / 3},  // u = -1.6 -> k = -2
      {1.0f, (1.0f - 0.52f) / 3},  // u = 0.52 -> k = 1
      {1.0f, (1.0f - 1.48f) / 3},  // u = 1.48 -> k = 1
      {1.0f, (3.0f - 2.6f) / 3},   // u = 2.6 -> k = 3, the top code itself: not clipped
      {1.0f, (3.0f - 3.4f) /
                 3},  // u = 3.4 rounds to 3: clip's argument is inside, so still dx = 1 (eq. 19)
      {0.0f, 1.0f},   // u = 10 -> clipped to 3: dT = y / T = 1
  };
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i]);
    const SymmetricSlopes s = symmetric_slopes(x, i, 1.5f, codes);
    CHECK(s.dx == expected[i].dx);
    CHECK(s.dthreshold == Approx(expected[i].dt).margin(1e-6));
  }
  // A zero threshold: every value is clipped to the code of its sign (the limit of y = k T / high).
  CHECK(symmetric_slopes(x, 0, 0.0f, codes).dthreshold == -1.0f);
  CHECK(symmetric_slopes(x, 2, 0.0f, codes).dthreshold == 1.0f);
  CHECK(symmetric_slopes(x, 2, 0.0f, codes).dx == 0.0f);
}

TEST_CASE("uniform_quantize: backward adds into dx and sums the threshold gradient per channel",
          "[uniform_quantize]") {
  // x: (outer 2, channels 2, inner 1); dy = 1 everywhere; signed 2-bit (codes -1..1).
  const std::vector<float> x{0.2f, 3.0f, -0.7f, 0.9f};
  const std::vector<float> t{1.0f, 2.0f};  // S = 1 and 0.5
  const std::vector<float> dy(4, 1.0f);
  std::vector<float> dx(4, 10.0f), dt{100.0f, 200.0f};
  symmetric_quantize_backward(2, 2, 1, x.data(), t.data(), symmetric_codes(2, true), dy.data(),
                              dx.data(), dt.data());
  // channel 0: x = 0.2 (u 0.2, k 0: dT = -0.2) and -0.7 (u -0.7, k -1: dT = -0.3)
  // channel 1: x = 3.0 (u 1.5 rounds to 2: clipped, dT = 1) and 0.9 (u 0.45, k 0: dT = -0.45)
  CHECK(dx == std::vector<float>{11.0f, 10.0f, 11.0f, 11.0f});
  CHECK(dt[0] == Approx(100.0f - 0.5f).epsilon(1e-6));
  CHECK(dt[1] == Approx(200.0f + 0.55f).epsilon(1e-6));
}

TEST_CASE("uniform_quantize: asymmetric 2-bit values with an integer zero point, hand-computed",
          "[uniform_quantize]") {
  // L = -0.5, W = 1.5, N = 3: S = 2, step 0.5, z = round(-1) = -1, codes -1..2 = values -0.5, 0,
  // 0.5, 1.
  const std::vector<float> x{-2.0f, -0.6f, -0.2f, 0.3f, 0.9f, 1.2f, 3.0f};
  const std::vector<float> expected{-0.5f, -0.5f, 0.0f, 0.5f, 1.0f, 1.0f, 1.0f};
  std::vector<float> y(x.size());
  const float left = -0.5f, width = 1.5f;
  asymmetric_quantize_forward(1, 1, static_cast<int64_t>(x.size()), x.data(), &left, &width, 2,
                              y.data());
  CHECK(y == expected);
  // L = -0.3: L S = -0.6 is not an integer; the zero point rounds to -1 and the values stay on the
  // grid k * 0.5 with k in -1..2, the range shifted by at most half a step.
  const float shifted = -0.3f;
  asymmetric_quantize_forward(1, 1, static_cast<int64_t>(x.size()), x.data(), &shifted, &width, 2,
                              y.data());
  CHECK(y == expected);
}

TEST_CASE("uniform_quantize: asymmetric backward (round' = 1 on x S and on the zero point)",
          "[uniform_quantize]") {
  // L = -0.3, W = 1.5, N = 3: S = 2, v = L S = -0.6, z = -1.
  const std::vector<float> x{-2.0f, -0.6f, 0.3f, 1.2f, 3.0f};
  struct Expect {
    float dx, dl, dw;
  };
  const std::vector<Expect> expected{
      {0.0f, 1.0f, (-1.0f + 0.6f) / 3},  // clipped low: y = z / S, dy/dL = 1, dy/dW = (k - v) / N
      {1.0f, 0.0f,
       (-1.0f + 1.2f) / 3},  // u = -1.2, k = -1 (m = 0, not clipped): dy/dW = (k - u) / N
      {1.0f, 0.0f, (1.0f - 0.6f) / 3},  // u = 0.6, k = 1
      {1.0f, 0.0f, (2.0f - 2.4f) / 3},  // u = 2.4, k = 2 (m = 3 = N, not clipped)
      {0.0f, 1.0f, (2.0f + 0.6f) / 3},  // clipped high: k = z + N = 2
  };
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i]);
    const AsymmetricSlopes s = asymmetric_slopes(x, i, -0.3f, 1.5f, 2);
    CHECK(s.dx == expected[i].dx);
    CHECK(s.dleft == expected[i].dl);
    CHECK(s.dwidth == Approx(expected[i].dw).margin(1e-6));
  }
}

TEST_CASE("uniform_quantize: int32 bias codes (eq. 20)", "[uniform_quantize]") {
  const std::vector<float> bias{1.3f, -2.6f, 1e9f, -1e9f};
  std::vector<int32_t> out(4);
  const std::vector<float> per_channel{4.0f, 0.5f, 10.0f, 10.0f};
  quantize_bias_int32(4, bias.data(), 2.0, per_channel.data(), 4, out.data());
  // 2 * 4 * 1.3 = 10.4 -> 10;  2 * 0.5 * -2.6 = -2.6 -> -3;  +-2e10 saturate at +-(2^31 - 1).
  CHECK(out == std::vector<int32_t>{10, -3, 2147483647, -2147483647});
  const float one = 3.0f;
  quantize_bias_int32(2, bias.data(), 0.5, &one, 1, out.data());
  CHECK(out[0] == 2);   // 1.95
  CHECK(out[1] == -4);  // -3.9
}

TEST_CASE("uniform_quantize: results are bit-identical for 1 and 2 threads", "[uniform_quantize]") {
  // Per tensor and per channel, sizes that span several blocks and a partial one.
  lowbit::Rng rng(5);
  const int64_t outer = 3, channels = 2, inner = 9001, n = outer * channels * inner;
  std::vector<float> x(static_cast<size_t>(n)), dy(static_cast<size_t>(n));
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = rng.uniform(-2.0f, 2.0f);
    dy[i] = rng.uniform(-1.0f, 1.0f);
  }
  const std::vector<float> t{1.5f, 0.7f}, left{-1.0f, -0.2f}, width{2.5f, 1.0f};
  struct Result {
    std::vector<float> y, dx, d1, d2;
  };
  auto run = [&](int threads) {
    lowbit::set_num_threads(threads);
    Result r{std::vector<float>(x.size()), std::vector<float>(x.size(), 0.0f),
             std::vector<float>(2, 0.0f), std::vector<float>(2, 0.0f)};
    symmetric_quantize_forward(outer, channels, inner, x.data(), t.data(), symmetric_codes(4, true),
                               r.y.data());
    symmetric_quantize_backward(outer, channels, inner, x.data(), t.data(),
                                symmetric_codes(4, true), dy.data(), r.dx.data(), r.d1.data());
    asymmetric_quantize_backward(1, 1, n, x.data(), left.data(), width.data(), 3, dy.data(),
                                 r.dx.data(), r.d2.data(), r.d2.data() + 1);
    return r;
  };
  const int saved = lowbit::num_threads();
  const Result one = run(1), two = run(2);
  lowbit::set_num_threads(saved);
  CHECK(one.y == two.y);
  CHECK(one.dx == two.dx);
  CHECK(one.d1 == two.d1);
  CHECK(one.d2 == two.d2);
}
