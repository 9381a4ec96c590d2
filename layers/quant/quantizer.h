// Quantizer: the interface of every quantization scheme a layer can take as an option
// (DESIGN: "quantization by composition, never by flags"). Conv2d and Linear hold an optional
// weight quantizer and an optional input quantizer and never know which scheme runs.
#pragma once

#include <memory>
#include <string>

#include "core/check.h"
#include "layers/module.h"

namespace lowbit {

// A quantizer maps a tensor to its quantized value (same shape) with its own backward
// (a straight-through estimator, and the gradients of its trained parameters if it has any).
// It is a Module so that its trained parameters (threshold scales, role kQuantScale) and its
// calibrated buffers (thresholds) are registered under the layer that owns it, e.g.
// "conv1.weight_quantizer.alpha": optimizers, checkpoints and load_state_dict see them like
// any other parameter or buffer, with no side table keyed by layer.
class Quantizer : public Module {
 public:
  // One line for configuration prints and reports, e.g. "uniform symmetric 8-bit signed, per
  // channel".
  virtual std::string describe() const = 0;
};

// x through an optional quantizer: x itself when there is none. Layers call the quantizer's
// forward directly rather than through Module::operator(), so a ForwardObserver sees the layer
// call with its float input (what calibration measures), not the quantizer inside it.
inline Tensor quantize_optional(const std::shared_ptr<Quantizer>& quantizer, const Tensor& x,
                                const char* what) {
  if (!quantizer) return x;
  Tensor q = quantizer->forward(x);
  LOWBIT_CHECK(q.shape() == x.shape(), what, ": quantizer ", quantizer->describe(),
               " changed shape ", x.shape().str(), " to ", q.shape().str(),
               "; expected the same shape");
  return q;
}

}  // namespace lowbit
