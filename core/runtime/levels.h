// The level operation (OpKind::kLevels): a fixed-point value mapped to the nearest of a few levels
// by thresholds, the power-of-two activation of Long et al. 2020 (eq. 2-5) as integer hardware
// runs it. Shared by the runtime's engine and the training library's integer model, so that both
// compute the same integers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::runtime {

// y = sign(x) m(|x|) (signed) or (x < 0 ? 0 : m(x)) (unsigned), with m(a) = levels[i] for the
// largest i such that a > thresholds[i], and 0 when a <= thresholds[0]. This is the float
// quantizer's own rule (layers/quant/pow2_activation.cpp: the magnitude steps up to the next level
// wherever |x| > a threshold, a value on a threshold stays below it), read on the fixed-point
// integers: a float threshold t * 2^F becomes floor(t * 2^F), since for an integer v, v > t 2^F
// exactly when v > floor(t 2^F).
struct LevelMap {
  bool is_signed = true;
  std::vector<int32_t> thresholds;  // ascending, >= 0
  std::vector<int32_t> levels;      // one per threshold, ascending, >= 0

  int32_t apply(int32_t x) const {
    const int64_t a = x < 0 ? -static_cast<int64_t>(x) : x;
    int32_t magnitude = 0;
    for (size_t i = 0; i < thresholds.size(); ++i)
      magnitude = a > thresholds[i] ? levels[i] : magnitude;
    if (x >= 0) return magnitude;
    return is_signed ? -magnitude : 0;
  }
  // The operation's parameters: is_signed (0 or 1), then the m thresholds, then the m levels.
  std::vector<int64_t> params() const;
};

// The most thresholds a level operation has (a 16-bit power-of-two activation has 15).
constexpr int kMaxLevelThresholds = 15;

// What is wrong with a level operation's parameters (an odd count 3..2 kMaxLevelThresholds + 1,
// a sign flag of 0 or 1, thresholds strictly ascending in 0..2^31-1, levels ascending in
// 0..2^31-1), or "" when nothing is.
std::string level_params_error(const std::vector<int64_t>& params);
// The map of valid parameters (level_params_error(params) == "").
LevelMap level_map(const std::vector<int64_t>& params);

}  // namespace lowbit::runtime
