// Trainable point-wise weight scale factors (Goncharenko et al., FAT section 4.2): every weight
// gets its own factor s in [0.75, 1.25], and the quantizer sees clip(s) * W, so that fine-tuning
// can move a weight across a rounding boundary (into another code) without touching the float
// weights.
//   y = q(clip(s, lo, hi) * x);   dx += dy_q clip(s);   ds += dy_q x while s is in [lo, hi] (eq.
//   19's clip')
// where dy_q is the gradient the inner quantizer passes back (its straight-through estimate).
#pragma once

#include <memory>
#include <string>

#include "layers/quant/quantizer.h"

namespace lowbit {

// The op: clip(scale, low, high) * x elementwise, scale shaped as x; one node writing dx and
// dscale.
Tensor pointwise_scale(const Tensor& x, const Tensor& scale, float low, float high);

// A weight quantizer that scales its input point-wise, then quantizes it with `inner` (a child
// named "inner", so its parameters and buffers keep their names under it). Parameter "scale" (role
// kQuantScale, every factor starts at 1, so the quantizer starts as `inner` alone).
class PointwiseScaledQuantizer : public Quantizer {
 public:
  PointwiseScaledQuantizer(std::shared_ptr<Quantizer> inner, const Shape& weight_shape,
                           float low = 0.75f, float high = 1.25f);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "PointwiseScaledQuantizer"; }
  std::string describe() const override;

  // Clamps every factor into [low, high] (after each optimizer step, as
  // UniformQuantizer::project_alphas).
  void project_scales();
  // clip(scale) * x without quantization: the weight the inner quantizer sees.
  Tensor scaled(const Tensor& x) const;

  const std::shared_ptr<Quantizer>& inner() const { return inner_; }
  const Tensor& scale() const { return scale_; }
  float low() const { return low_; }
  float high() const { return high_; }

 private:
  std::shared_ptr<Quantizer> inner_;
  Tensor scale_;
  float low_, high_;
};

}  // namespace lowbit
