// Initializers: fans and random fills.
#include "layers/init.h"

#include <cmath>

#include "core/check.h"

namespace lowbit {
namespace {

int64_t receptive_field(const Tensor& w) {
  LOWBIT_CHECK(w.rank() >= 2, "fan of a tensor of shape ", w.shape().str(), ": expected rank >= 2");
  int64_t r = 1;
  for (int i = 2; i < w.rank(); ++i) r *= w.size(i);
  return r;
}

}  // namespace

int64_t fan_in(const Tensor& weight) { return weight.size(1) * receptive_field(weight); }

int64_t fan_out(const Tensor& weight) { return weight.size(0) * receptive_field(weight); }

void kaiming_normal(const Tensor& weight, int64_t fan, Rng& rng) {
  LOWBIT_CHECK(fan > 0, "kaiming_normal: fan ", fan, " must be positive");
  normal_fill(weight, 0.0f, std::sqrt(2.0f / static_cast<float>(fan)), rng);
}

void normal_fill(const Tensor& t, float mean, float stddev, Rng& rng) {
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.normal(mean, stddev);
}

void uniform_fill(const Tensor& t, float low, float high, Rng& rng) {
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(low, high);
}

}  // namespace lowbit
