// normalize_augment: one pass over the output image; every output row is padding, or a run
// of padding, a run of shifted (and possibly reversed) source pixels, and padding again.
#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace lowbit {

void check_normalization(const Normalization& norm, int64_t channels) {
  LOWBIT_CHECK(static_cast<int64_t>(norm.mean.size()) == channels, "normalization has ",
               norm.mean.size(), " means, expected one per channel (", channels, ")");
  LOWBIT_CHECK(static_cast<int64_t>(norm.stddev.size()) == channels, "normalization has ",
               norm.stddev.size(), " standard deviations, expected one per channel (", channels,
               ")");
  for (size_t c = 0; c < norm.mean.size(); ++c) {
    LOWBIT_CHECK(std::isfinite(norm.mean[c]), "normalization mean[", c, "] = ", norm.mean[c],
                 ", expected finite");
    LOWBIT_CHECK(std::isfinite(norm.stddev[c]) && norm.stddev[c] > 0.0f, "normalization stddev[", c,
                 "] = ", norm.stddev[c], ", expected finite and > 0");
  }
}

void normalize_augment(const uint8_t* src, int64_t channels, int64_t height, int64_t width,
                       const Normalization& norm, int64_t dy, int64_t dx, bool flip, float* dst) {
  LOWBIT_CHECK(channels > 0 && height > 0 && width > 0, "normalize_augment: image size ", channels,
               "x", height, "x", width, ", expected positive");
  LOWBIT_CHECK(src != nullptr && dst != nullptr, "normalize_augment: null image pointer");
  check_normalization(norm, channels);

  // A shift by the full size or more already gives padding only; clamping keeps y + dy from
  // overflowing.
  dy = std::clamp<int64_t>(dy, -height, height);
  dx = std::clamp<int64_t>(dx, -width, width);
  // Output column x reads source column sx = x + dx (or W-1-x + dx flipped); the columns with
  // 0 <= sx < W form the run [x_begin, x_end), the rest is padding.
  const int64_t x_begin = std::clamp<int64_t>(flip ? dx : -dx, 0, width);
  const int64_t x_end = std::clamp<int64_t>(flip ? width + dx : width - dx, x_begin, width);
  for (int64_t c = 0; c < channels; ++c) {
    // x = p * scale + shift with scale = 1 / (255 s), shift = -m / s: the formula up to float
    // rounding (a few ulp), one FMA a pixel; a padded 0 gives exactly shift = (0 - m) / s.
    const float scale = 1.0f / (255.0f * norm.stddev[static_cast<size_t>(c)]);
    const float shift = -norm.mean[static_cast<size_t>(c)] / norm.stddev[static_cast<size_t>(c)];
    const uint8_t* plane = src + c * height * width;
    for (int64_t y = 0; y < height; ++y) {
      float* out = dst + (c * height + y) * width;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= height || x_begin == x_end) {
        std::fill(out, out + width, shift);
        continue;
      }
      std::fill(out, out + x_begin, shift);
      const uint8_t* row = plane + sy * width;
      if (flip) {
        for (int64_t x = x_begin; x < x_end; ++x)
          out[x] = static_cast<float>(row[width - 1 - x + dx]) * scale + shift;
      } else {
        for (int64_t x = x_begin; x < x_end; ++x)
          out[x] = static_cast<float>(row[x + dx]) * scale + shift;
      }
      std::fill(out + x_end, out + width, shift);
    }
  }
}

}  // namespace lowbit
