// normalize_augment on a hand-made 2-channel 2x3 image: plain, flipped, shifted with zero
// padding (padded values checked exactly), crop then flip, and per-channel mean/std.
#include "data/augment.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/check.h"

using namespace lowbit;

namespace {

constexpr int64_t C = 2, H = 2, W = 3;
// channel 0: rows {0, 51, 255}, {102, 153, 204}; channel 1: rows {10, 20, 30}, {40, 50, 60}
const uint8_t kImage[C * H * W] = {0, 51, 255, 102, 153, 204, 10, 20, 30, 40, 50, 60};
const Normalization kNorm{{0.5f, 0.25f}, {0.5f, 2.0f}};

float at(const std::vector<float>& image, int64_t c, int64_t y, int64_t x) {
  return image[static_cast<size_t>((c * H + y) * W + x)];
}

// The formula in double: (p / 255 - mean) / stddev.
double expected(int64_t c, double p) {
  return (p / 255.0 - kNorm.mean[static_cast<size_t>(c)]) / kNorm.stddev[static_cast<size_t>(c)];
}

std::vector<float> run(int64_t dy, int64_t dx, bool flip, const Normalization& norm = kNorm) {
  std::vector<float> out(C * H * W, std::nanf(""));
  normalize_augment(kImage, C, H, W, norm, dy, dx, flip, out.data());
  return out;
}

// A padded pixel is the value 0 normalized, in float exactly as the formula gives it.
float padding(int64_t c) {
  const size_t i = static_cast<size_t>(c);
  return (0.0f / 255.0f - kNorm.mean[i]) / kNorm.stddev[i];
}

}  // namespace

TEST_CASE("normalize_augment without augmentation is per-channel normalization",
          "[data][augment]") {
  const std::vector<float> out = run(0, 0, false);
  // Hand-computed values: channel 0 has mean 0.5, std 0.5; channel 1 mean 0.25, std 2.
  CHECK(at(out, 0, 0, 0) == Approx(-1.0f).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 0, 0, 1) == Approx(-0.6f).epsilon(1e-6).margin(1e-7));  // 51/255 = 0.2
  CHECK(at(out, 0, 0, 2) == Approx(1.0f).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 0, 1, 0) == Approx(-0.2f).epsilon(1e-6).margin(1e-7));  // 102/255 = 0.4
  CHECK(at(out, 0, 1, 2) == Approx(0.6f).epsilon(1e-6).margin(1e-7));   // 204/255 = 0.8
  CHECK(at(out, 1, 0, 0) == Approx((10.0 / 255 - 0.25) / 2).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 1, 1, 2) == Approx((60.0 / 255 - 0.25) / 2).epsilon(1e-6).margin(1e-7));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        CHECK(at(out, c, y, x) ==
              Approx(expected(c, kImage[(c * H + y) * W + x])).epsilon(1e-6).margin(1e-7));
  // A pixel of value 0 gives exactly the padding value.
  CHECK(at(out, 0, 0, 0) == padding(0));
}

TEST_CASE("normalize_augment flips each row", "[data][augment]") {
  const std::vector<float> out = run(0, 0, true);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        CHECK(
            at(out, c, y, x) ==
            Approx(expected(c, kImage[(c * H + y) * W + (W - 1 - x)])).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 0, 0, 0) ==
        Approx(1.0f).epsilon(1e-6).margin(1e-7));  // was the 255 at the right end
  CHECK(at(out, 0, 0, 2) == padding(0));           // the 0 moved to the right end
}

TEST_CASE("normalize_augment shifts with zero padding added before normalization",
          "[data][augment]") {
  // dy = 1, dx = -1: out(y, x) = src(y + 1, x - 1); row 1 and column 0 fall outside.
  const std::vector<float> out = run(1, -1, false);
  for (int64_t c = 0; c < C; ++c) {
    CHECK(at(out, c, 0, 0) == padding(c));
    CHECK(at(out, c, 1, 0) == padding(c));
    CHECK(at(out, c, 1, 1) == padding(c));
    CHECK(at(out, c, 1, 2) == padding(c));
  }
  // The padding is pixel 0 normalized, not 0 after normalization: -mean/std exactly.
  CHECK(padding(0) == -1.0f);
  CHECK(padding(1) == -0.125f);
  CHECK(at(out, 0, 0, 1) == Approx(-0.2f).epsilon(1e-6).margin(1e-7));  // src(0, 1, 0) = 102
  CHECK(at(out, 0, 0, 2) == Approx(expected(0, 153)).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 1, 0, 1) == Approx(expected(1, 40)).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 1, 0, 2) == Approx(expected(1, 50)).epsilon(1e-6).margin(1e-7));

  // dy = -1, dx = 2: out(y, x) = src(y - 1, x + 2): only out(1, 0) = src(0, 2) is inside.
  const std::vector<float> corner = run(-1, 2, false);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        if (y == 1 && x == 0) continue;
        CHECK(at(corner, c, y, x) == padding(c));
      }
  CHECK(at(corner, 0, 1, 0) == Approx(1.0f).epsilon(1e-6).margin(1e-7));
  CHECK(at(corner, 1, 1, 0) == Approx(expected(1, 30)).epsilon(1e-6).margin(1e-7));

  // A shift by the whole image (or far beyond) leaves padding only.
  for (auto shift : {std::pair<int64_t, int64_t>{H, 0},
                     {0, -W},
                     {int64_t{1} << 62, 0},
                     {0, -(int64_t{1} << 62)}}) {
    const std::vector<float> gone = run(shift.first, shift.second, shift.second != 0);
    for (int64_t i = 0; i < C * H * W; ++i)
      CHECK(gone[static_cast<size_t>(i)] == padding(i / (H * W)));
  }
}

TEST_CASE("normalize_augment crops first, then flips", "[data][augment]") {
  // cropped(y, x) = src(y, x + 1) = {51, 255, pad} in row 0; flipped: {pad, 255, 51}.
  const std::vector<float> out = run(0, 1, true);
  CHECK(at(out, 0, 0, 0) == padding(0));
  CHECK(at(out, 0, 0, 1) == Approx(1.0f).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 0, 0, 2) == Approx(-0.6f).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 0, 1, 0) == padding(0));
  CHECK(at(out, 0, 1, 1) == Approx(0.6f).epsilon(1e-6).margin(1e-7));  // 204
  CHECK(at(out, 0, 1, 2) == Approx(expected(0, 153)).epsilon(1e-6).margin(1e-7));
  CHECK(at(out, 1, 1, 0) == padding(1));
  CHECK(at(out, 1, 1, 2) == Approx(expected(1, 50)).epsilon(1e-6).margin(1e-7));
  // The other direction: cropped row 0 = {pad, 0, 51}, flipped {51, 0, pad}.
  const std::vector<float> left = run(0, -1, true);
  CHECK(at(left, 0, 0, 0) == Approx(-0.6f).epsilon(1e-6).margin(1e-7));
  CHECK(at(left, 0, 0, 1) == -1.0f);
  CHECK(at(left, 0, 0, 2) == padding(0));
}

TEST_CASE("normalize_augment uses each channel's own mean and standard deviation",
          "[data][augment]") {
  // The same pixel value in two channels with different statistics.
  const uint8_t image[2] = {128, 128};
  const Normalization norm{{0.0f, 1.0f}, {1.0f, 0.25f}};
  float out[2];
  normalize_augment(image, 2, 1, 1, norm, 0, 0, false, out);
  CHECK(out[0] == Approx(128.0 / 255).epsilon(1e-6).margin(1e-7));
  CHECK(out[1] == Approx((128.0 / 255 - 1.0) / 0.25).epsilon(1e-6).margin(1e-7));
  // A shift pads each channel with its own normalized 0.
  normalize_augment(image, 2, 1, 1, norm, 1, 0, false, out);
  CHECK(out[0] == 0.0f);
  CHECK(out[1] == -4.0f);
}

TEST_CASE("normalize_augment rejects a normalization that does not fit the image",
          "[data][augment]") {
  float out[C * H * W];
  CHECK_THROWS_WITH(
      normalize_augment(kImage, C, H, W, Normalization{{0.5f}, {0.5f}}, 0, 0, false, out),
      Catch::Contains("1 means") && Catch::Contains("one per channel (2)"));
  CHECK_THROWS_WITH(
      normalize_augment(kImage, C, H, W, Normalization{{0.5f, 0.5f}, {0.5f}}, 0, 0, false, out),
      Catch::Contains("1 standard deviations"));
  CHECK_THROWS_WITH(normalize_augment(kImage, C, H, W, Normalization{{0.5f, 0.5f}, {0.5f, 0.0f}}, 0,
                                      0, false, out),
                    Catch::Contains("stddev[1] = 0"));
  CHECK_THROWS_WITH(normalize_augment(kImage, C, H, W, Normalization{{0.5f, 0.5f}, {-1.0f, 1.0f}},
                                      0, 0, false, out),
                    Catch::Contains("stddev[0] = -1"));
  CHECK_THROWS_WITH(normalize_augment(kImage, C, H, W, Normalization{{NAN, 0.5f}, {1.0f, 1.0f}}, 0,
                                      0, false, out),
                    Catch::Contains("mean[0]"));
  CHECK_THROWS_WITH(normalize_augment(kImage, 0, H, W, Normalization{}, 0, 0, false, out),
                    Catch::Contains("image size 0x2x3"));
  CHECK_NOTHROW(check_normalization(kNorm, 2));
  CHECK_THROWS_AS(check_normalization(kNorm, 3), Error);
}
