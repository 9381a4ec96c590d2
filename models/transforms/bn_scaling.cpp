// Batch-norm scaling: every BatchNorm's weight and bias times one factor.
#include "models/transforms/bn_scaling.h"

#include <cmath>

#include "core/check.h"
#include "layers/batch_norm.h"

namespace lowbit {

int64_t scale_batch_norms(Module& model, float factor) {
  LOWBIT_CHECK(factor > 0 && std::isfinite(factor), "batch-norm scale factor ", factor,
               " must be positive and finite");
  int64_t count = 0;
  if (auto* bn = dynamic_cast<BatchNorm*>(&model); bn != nullptr && bn->weight().defined()) {
    for (const Tensor* t : {&bn->weight(), &bn->bias()}) {
      float* v = t->data();
      for (int64_t i = 0; i < t->numel(); ++i) v[i] *= factor;
    }
    ++count;
  }
  for (const auto& [name, child] : model.children()) count += scale_batch_norms(*child, factor);
  return count;
}

}  // namespace lowbit
