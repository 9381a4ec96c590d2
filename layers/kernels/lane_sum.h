// Vectorizable sums: 16 independent partial sums, so the compiler can keep them in SIMD
// lanes without reassociating (no -ffast-math). The order is fixed, so results are
// deterministic.
#pragma once

#include <array>
#include <cstdint>

namespace lowbit::kernels {

constexpr int kLanes = 16;

// K sums at once: f(i, terms) writes the K terms of element i (and may do per-element work
// besides, such as writing a gradient); returns sum_i terms[k] for each k, over i in [0, n).
template <int K, class F>
inline std::array<float, K> lane_sums(int64_t n, F f) {
  float acc[K][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      float terms[K];
      f(i + j, terms);
      for (int k = 0; k < K; ++k) acc[k][j] += terms[k];
    }
  float tail[K] = {};
  for (; i < n; ++i) {
    float terms[K];
    f(i, terms);
    for (int k = 0; k < K; ++k) tail[k] += terms[k];
  }
  std::array<float, K> sums{};
  for (int k = 0; k < K; ++k) {
    for (int j = 0; j < kLanes; ++j) sums[k] += acc[k][j];
    sums[k] += tail[k];
  }
  return sums;
}

// sum_i f(i) for i in [0, n). (Not lane_sums<1>: written this way GCC 12 vectorizes every one of
// batch norm's reductions; through lane_sums some of them stay scalar.)
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
