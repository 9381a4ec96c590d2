// Rescaling of depthwise-separable pairs (Goncharenko et al., FAT section 3.3-3.3.1): a depthwise
// convolution followed by ReLU6 (or ReLU) and a convolution gets per-channel factors S_k > 0,
//   W_dws[k] *= S_k,  b_dws[k] *= S_k,  W_next[:, k] /= S_k,
// chosen so that the depthwise filters' max|w| come close to each other (scalar quantization then
// loses less) while the model computes the same function: ReLU6(S_k X_k) = S_k ReLU6(X_k) when
// X_k < 6 and S_k X_k < 6 (eq. 26-27).
//
// Steps 1-6 of section 3.3.1: (1) T_k = max|w| of each depthwise filter; (2) M_k = the largest
// value of output channel k (before ReLU6) over the calibration batches; (3) channels with M_k >=
// the lock limit (5.9) are locked, S_k = 1; (4) T_0 = the mean T_k of the locked filters; (5) S_k =
// T_0 / T_k for the others; (6) S_k <= lock_limit / M_k, so that their outputs stay below the
// limit. Readings chosen: step 6 caps at the lock limit rather than at 6.0 itself (the margin that
// step 3 keeps for other inputs applies to rescaled channels alike); with no locked channel T_0 is
// the mean of all T_k; after ReLU (no upper saturation) nothing is locked or capped; filters with
// T_k = 0 keep S_k = 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

struct DwsRescaling {
  std::string depthwise, next;  // dotted paths of the two convolutions
  int64_t channels = 0, locked = 0;
  double t0 = 0.0;  // the control value of step 4
  // max_k T_k / min_k T_k over the filters with T_k > 0, before and after: 1 when all are equal.
  double spread_before = 0.0, spread_after = 0.0;
  std::vector<float> scales;  // S_k
  std::vector<bool> locked_channels;
  std::vector<float> filter_max_before, filter_max_after;  // T_k before and after
};

// Finds every depthwise Conv2d (groups == in == out channels) whose output goes, through an
// optional Identity (a folded BN's place, models/transforms/bn_folding.h), into a ReLU6 or ReLU and
// from there into a Conv2d with groups 1, each link read by that one consumer, by tracing the model
// in eval mode on the calibration batches; then rescales each pair as above. Returns one entry per
// rescaled pair. Throws lowbit::Error for no batches, a lock limit outside (0, 6], a BN between the
// pair that is not folded yet, or a convolution that already has a weight quantizer (rescale the
// float model, then quantize).
std::vector<DwsRescaling> rescale_depthwise_separable(Module& model,
                                                      const std::vector<Tensor>& batches,
                                                      float lock_limit = 5.9f);

}  // namespace lowbit
