// Rounding-tie clearance: moves a trained input threshold by a few units of 2^-12 when values its
// layer sees often lie on a rounding boundary of its grid, so that the simulated (float32) model
// and the integer-only program (models/transforms/integer_model.h) give those values the same code.
//
// Why. A quantized layer's output is a lattice, b[c] + m step_x step_w[c] for integers m, and
// flat image regions give the same lattice value at many positions of many images. When such a
// value x sits within float precision of a boundary of the next layer's grid (x / step = j + 1/2),
// the float32 simulation (x S rounded, then ties to even) and the fixed-point program (exact
// accumulators, values at 2^-22, ties up) round it to neighbouring codes at every one of those
// positions. On MobileNet-v2 at 4 bits per tensor, after fine-tuning and snap_scales
// (apps/fat/quantize_model.h), this happened in several layers at once (in one of them a single
// value, 0.5865242 = step / 2 to 5e-8, in 4% of the test images): 99.21% of the test predictions
// agreed. Moving 11 of its 53 alphas by at most 3 x 2^-12 each (1.5e-3 of a threshold or less)
// gave 99.97%, at a held-out logits RMSE of 3.041 against 3.003 and a test accuracy of 75.05%
// against 74.86%.
//
// How. Trace the model on some images (a ForwardObserver sees each Conv2d's and Linear's float
// input) and count, for each per-tensor uniform input quantizer and each candidate alpha + d 2^-12
// (|d| <= max_units, inside the clip range), the values within `margin` steps of a boundary between
// two codes of the grid. Layers are decided in forward order: a layer moves to the candidate with
// the fewest such values when that at most halves the count at d = 0 and the count is at least
// `min_ties`; after a move, everything downstream is traced again (its inputs changed).
//
// The margin. The two models differ by ~1e-7 of a step on a single value (float32 rounding of x S,
// the fixed point's 2^-22) and by up to ~1e-6 after a long float32 accumulation. Continuous inputs
// (the residual stream) also put values near a boundary by chance, a fraction 2 margin of them,
// at every candidate alike: with a margin of 1e-5 those were ~100 per layer on 500 images and hid
// the repeated value above (no candidate halved the count); at 2e-6 it stands out and moves.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

struct TieClearanceOptions {
  double margin = 2e-6;  // in steps (see above)
  int max_units = 3;     // candidates alpha + d 2^-fraction_bits, |d| <= max_units
  int fraction_bits = 12;
  int64_t min_ties = 4;  // fewer values near a boundary are single values, left alone
};

// One layer's decision.
struct TieCheck {
  std::string layer;        // dotted path of the Conv2d or Linear
  int units = 0;            // alpha moved by units * 2^-fraction_bits (0: left alone)
  int64_t ties_before = 0;  // values within the margin of a boundary at the old alpha
  int64_t ties_after = 0;   // at the chosen alpha (as traced before the move)
  int64_t values = 0;       // input values traced
};

// Checks every Conv2d and Linear whose input quantizer is a per-tensor UniformQuantizer, in forward
// order, moving alphas as described above (eval mode, no gradients; the mode is restored). Returns
// one entry per checked layer, in forward order. Throws lowbit::Error for no batches or bad
// options.
std::vector<TieCheck> clear_rounding_ties(Module& model, const std::vector<Tensor>& batches,
                                          const TieClearanceOptions& options = {});

// The number of values of x within `margin` steps of a boundary j + 1/2 between two codes j, j + 1
// of [low, high] (x / step = u, |u - floor(u) - 1/2| < margin, low <= floor(u) < high).
int64_t count_near_boundaries(const float* x, int64_t n, double step, int64_t low, int64_t high,
                              double margin);

}  // namespace lowbit
