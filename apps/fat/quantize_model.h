// The FAT model transformation of lowbit-quantize (Goncharenko et al., sections 3.1-3.3): a float
// model from lowbit-train folded (eq. 10-11), optionally rescaled (section 3.3.1) and given
// calibrated quantizers (eq. 2, 6: the naive max-threshold model that fine-tuning starts from); the
// trained scales; and the quantized checkpoint, which rebuilds the same model on its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/fat/quantize_config.h"
#include "apps/train/train_config.h"
#include "layers/module.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/dws_rescaling.h"

namespace lowbit {

struct QuantizedModel {
  TrainConfig train;        // the float run's configuration (rebuilds the model)
  QuantizeConfig quantize;  // how it was quantized
  std::shared_ptr<Module> model;
  std::vector<CalibratedLayer> layers;  // registration order
  BnFoldReport fold;
  std::vector<DwsRescaling> rescaled;  // empty without --rescale-dws
};

// Transforms `model` (the float model of `train`, changed in place): fold every BN on the first
// calibration batch, rescale depthwise-separable pairs on all of them when asked, then attach
// calibrated quantizers. Throws lowbit::Error for no batches or what the transformations refuse.
QuantizedModel quantize_model(std::shared_ptr<Module> model, const TrainConfig& train,
                              const QuantizeConfig& quantize,
                              const std::vector<Tensor>& calibration);

// The trained scales of a quantized model (role kQuantScale: threshold alphas, and the point-wise
// weight factors when present); every other parameter is frozen (requires_grad off), as section
// 3.1.3 fixes the network. Throws when the model has no scale to train.
std::vector<Parameter> freeze_all_but_scales(Module& model);
// Clamps every alpha and point-wise factor into its clip range (after each optimizer step).
void project_scales(Module& model);

// The resolution fine-tuning leaves its scales at: multiples of 2^-12.
constexpr int kScaleFractionBits = 12;
// Rounds every trained scale to a multiple of 2^-fraction_bits, then projects it into its clip
// range.
//
// Why (found on MobileNet-v2 at 4 bits): Adam under a cosine schedule that decays to ~0 settles a
// threshold where one frequently repeated activation (a flat image region gives the same value at
// many positions) sits on a rounding boundary of the next quantizer to within float precision, as
// the loss changes sides there. The simulated model (float32) and the integer program (fixed point
// at 2^-22) then round that value differently at every one of its positions: 96.36% of the test
// predictions agreed. Rounding alpha to 2^-12 moves T by at most 2.4e-4 of itself, which is below
// what the RMSE resolves, and moves a pinned value ~1e-4 of a step off the boundary, against a
// float/fixed-point difference of ~1e-6 of a step: the same model then agreed on 99.89%.
void snap_scales(Module& model, int fraction_bits = kScaleFractionBits);

// Writes the quantized model atomically (core/checkpoint.h): its configuration (both configs and
// each layer's input signedness, as JSON) and every parameter and buffer ("model.<name>").
void save_quantized_checkpoint(const std::string& path, const QuantizedModel& quantized);
// Rebuilds the model of a quantized checkpoint (built, folded and given quantizers as when it was
// written, on a placeholder input) and loads its values. Throws lowbit::Error naming the file for a
// file that is not a lowbit-quantize checkpoint or does not match.
QuantizedModel load_quantized_checkpoint(const std::string& path);
// Whether `path` holds a lowbit-quantize checkpoint (its configuration says so). Throws
// lowbit::Error for a file that is no lowbit checkpoint at all.
bool is_quantized_checkpoint(const std::string& path);

}  // namespace lowbit
