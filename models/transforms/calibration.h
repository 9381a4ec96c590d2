// Calibration of uniform quantizers (Goncharenko et al., FAT section 2 and 4.1.2): the naive
// max thresholds T_max that the trained scales of eq. 12 start from. Activations: from a few
// calibration images (100 in the paper) traced with a ForwardObserver; weights: max|W| (eq. 2) per
// tensor or per output channel.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"
#include "layers/quant/pointwise_scaled_quantizer.h"
#include "layers/quant/uniform_quantizer.h"

namespace lowbit {

struct UniformQuantizationOptions {
  int weight_bits = 8;
  int input_bits = 8;
  Thresholds thresholds = Thresholds::kSymmetric;
  Granularity weight_granularity = Granularity::kVector;  // per output channel (section 3.1.5)
  Granularity input_granularity = Granularity::kScalar;   // per tensor
  // Section 4.2: every weight quantizer is wrapped in a PointwiseScaledQuantizer, one trainable
  // factor in [0.75, 1.25] per weight (layers/quant/pointwise_scaled_quantizer.h).
  bool pointwise_weight_scales = false;
  // Input signedness by layer path, overriding what the calibration batches show (rebuilding a
  // saved model, whose limits are loaded afterwards, from a placeholder batch).
  std::map<std::string, bool> input_signed;
};

struct CalibratedLayer {
  std::string name;  // dotted path of the Conv2d or Linear
  std::shared_ptr<UniformQuantizer> weight, input;
  std::shared_ptr<PointwiseScaledQuantizer> weight_scales;  // null unless pointwise_weight_scales
};

// Attaches a calibrated weight quantizer and input quantizer to every Conv2d and Linear of a float
// model (one without quantizers; fold BN first, models/transforms/bn_folding.h, so that the weights
// are the folded ones). The model runs the calibration batches in eval mode without gradients while
// a ForwardObserver records each layer's float input; then every layer gets
//  - an input quantizer, signed (eq. 8) when some calibration input of the layer was negative and
//    unsigned (eq. 9, the input after ReLU) otherwise, with T_max = max|x| (eq. 6), or, asymmetric,
//    the limits [min(0, min x), max(0, max x)], per tensor or per channel (axis 1);
//  - a signed weight quantizer with T_max = max|W| (eq. 2) (asymmetric: [min(0, min W), max(0, max
//  W)]),
//    per tensor or per output channel (axis 0).
// With pointwise_weight_scales the layer's weight quantizer is a PointwiseScaledQuantizer around
// the calibrated one (its factors start at 1). Every alpha starts at its initial value (1, and 0
// for the left shift): the result is the naive max-threshold quantization. Returns the layers in
// registration order. Throws lowbit::Error for no batches, a layer that already has a quantizer, or
// a layer the batches never reach.
std::vector<CalibratedLayer> attach_calibrated_quantizers(
    Module& model, const std::vector<Tensor>& batches,
    const UniformQuantizationOptions& options = {});

}  // namespace lowbit
