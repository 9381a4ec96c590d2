// Activation values and slopes. All three are clipping functions whose slope is an
// indicator, "a forward value and the slope we choose to use":
//     y[i] = value(x[i]);   dL/dx[i] += [pass(x[i])] * dL/dy[i]
// through core/custom_gradient.h's gated_gradient (a select, so that both loops vectorize).
#include "layers/activations.h"

#include <algorithm>

#include "core/check.h"
#include "core/custom_gradient.h"

namespace lowbit {

Tensor relu(const Tensor& x) {
  return gated_gradient(
      x, "relu", [](float v) { return v > 0.0f ? v : 0.0f; }, [](float v) { return v > 0.0f; });
}

Tensor relu6(const Tensor& x) {
  return gated_gradient(
      x, "relu6", [](float v) { return std::min(std::max(v, 0.0f), 6.0f); },
      [](float v) { return v > 0.0f && v < 6.0f; });
}

Tensor hardtanh(const Tensor& x, float lo, float hi) {
  LOWBIT_CHECK(lo < hi, "hardtanh: min ", lo, " must be below max ", hi);
  return gated_gradient(
      x, "hardtanh", [lo, hi](float v) { return std::min(std::max(v, lo), hi); },
      [lo, hi](float v) { return v > lo && v < hi; });
}

Hardtanh::Hardtanh(float min_value, float max_value) : min_(min_value), max_(max_value) {
  LOWBIT_CHECK(min_value < max_value, "Hardtanh: min ", min_value, " must be below max ",
               max_value);
}

}  // namespace lowbit
