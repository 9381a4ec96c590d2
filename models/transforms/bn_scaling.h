// Scaling every batch norm's affine output: y = g (x - mean) / sd + b becomes c y, so the
// activation after it sees inputs c times as large. With the power-of-two activation, whose
// levels are fixed (0, ±q2, ..., ±2^(n-2) q2), c = q2 / best_q2(n) puts a unit-variance BN output
// where the levels fit it best (eq. 6 minimized for a standard normal:
// layers/quant/pow2_activation.h).
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace lowbit {

// Multiplies the scale and shift of every BatchNorm in `model` by `factor` (> 0, finite);
// returns how many BatchNorms it scaled. Throws lowbit::Error for a bad factor.
int64_t scale_batch_norms(Module& model, float factor);

}  // namespace lowbit
