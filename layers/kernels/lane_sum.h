// Vectorizable sums: 16 independent partial sums, so the compiler can keep them in SIMD
// lanes without reassociating (no -ffast-math). The order is fixed, so results are
// deterministic.
#pragma once

#include <cstdint>

namespace lowbit::kernels {

constexpr int kLanes = 16;

// sum_i f(i) for i in [0, n).
template <class F>
inline float lane_sum(int64_t n, F f) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += f(i + j);
  float tail = 0.0f;
  for (; i < n; ++i) tail += f(i);
  float s = 0.0f;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s + tail;
}

}  // namespace lowbit::kernels
