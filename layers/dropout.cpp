// dropout: y = x * m / (1 - p), dx += dy * m / (1 - p), m[i] = [u_i >= p].
#include "layers/dropout.h"

#include <memory>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/storage.h"

namespace lowbit {

Tensor dropout(const Tensor& x, float p, bool training, Rng& rng) {
  LOWBIT_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " must be in [0, 1)");
  if (!training || p == 0.0f) return x;
  const uint64_t key = rng.stream_key();
  const float scale = 1.0f / (1.0f - p);
  // The mask as the per-element factor 0 or 1/(1-p), kept for the backward in pooled
  // storage (a fresh vector each step would pay first-touch page faults).
  auto factor = std::make_shared<Storage>(static_cast<size_t>(x.numel()));
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  float* f = factor->data();
  parallel_for(x.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      f[i] = counter_uniform(key, static_cast<uint64_t>(i)) >= p ? scale : 0.0f;
      py[i] = px[i] * f[i];
    }
  });
  record(y, "dropout", {x}, [x, factor](const Tensor& out) {
    const float* dy = out.grad();
    float* dx = x.grad();
    const float* f = factor->data();
    parallel_for(x.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dx[i] += dy[i] * f[i];
    });
  });
  return y;
}

Dropout::Dropout(float p) : p_(p) {
  LOWBIT_CHECK(p >= 0.0f && p < 1.0f, "Dropout: probability ", p, " must be in [0, 1)");
}

}  // namespace lowbit
