#include "core/runtime/levels.h"

#include "core/check.h"

namespace lowbit::runtime {

std::vector<int64_t> LevelMap::params() const {
  std::vector<int64_t> p{is_signed ? 1 : 0};
  p.insert(p.end(), thresholds.begin(), thresholds.end());
  p.insert(p.end(), levels.begin(), levels.end());
  return p;
}

std::string level_params_error(const std::vector<int64_t>& params) {
  const size_t n = params.size();
  if (n < 3 || n % 2 == 0 || n > 2 * kMaxLevelThresholds + 1)
    return concat(n, " parameters; expected the sign flag, then 1..", kMaxLevelThresholds,
                  " thresholds and as many levels");
  if (params[0] != 0 && params[0] != 1) return concat("sign flag ", params[0], "; expected 0 or 1");
  const size_t m = (n - 1) / 2;
  for (size_t i = 0; i < m; ++i) {
    const int64_t t = params[1 + i], level = params[1 + m + i];
    if (t < 0 || t > INT32_MAX || (i > 0 && t <= params[i]))
      return concat("threshold ", i, " = ", t, "; expected strictly ascending values in 0..2^31-1");
    if (level < 0 || level > INT32_MAX || (i > 0 && level < params[m + i]))
      return concat("level ", i, " = ", level, "; expected ascending values in 0..2^31-1");
  }
  return "";
}

LevelMap level_map(const std::vector<int64_t>& params) {
  const std::string error = level_params_error(params);
  LOWBIT_CHECK(error.empty(), "level operation: ", error);
  LevelMap map;
  map.is_signed = params[0] == 1;
  const size_t m = (params.size() - 1) / 2;
  for (size_t i = 0; i < m; ++i) {
    map.thresholds.push_back(static_cast<int32_t>(params[1 + i]));
    map.levels.push_back(static_cast<int32_t>(params[1 + m + i]));
  }
  return map;
}

}  // namespace lowbit::runtime
