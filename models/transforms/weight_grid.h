// Which parameters live on the power-of-two grid (trained by DstOptimizer, Long et al. 2020,
// eq. 8-15) and which stay in float for the base optimizer; Table 4 studies quantizing the first
// and the last layer.
#pragma once

#include <vector>

#include "core/parameter.h"
#include "layers/module.h"

namespace lowbit {

// The weights of convolution and linear layers (role kWeight, rank 2 or 4), in registration
// order, without the first such layer unless quantize_first and without the last unless
// quantize_last (the paper keeps the first layer in float by default). "First" and "last" are in
// registration order, which is the order of the forward pass in every model of the zoo. A model
// with a single such layer (both first and last) leaves it out unless both flags ask for it.
std::vector<Parameter> grid_weight_parameters(const Module& model, bool quantize_first,
                                              bool quantize_last);

// Makes every convolution whose weight is in `grid` sum its products directly in evaluation
// (Conv2dOptions::exact_sums): a power-of-two network then evaluates with exact sums. Returns how
// many convolutions it set.
int use_exact_sums(Module& model, const std::vector<Parameter>& grid);

// Makes the first convolution, when its weight is not in `grid` (the paper's float first layer),
// evaluate with the integer runtime's wide-product arithmetic (Conv2dOptions::wide_sums), the way
// lowbit-pack compiles it. Returns 1 if it set one, else 0 (a first layer on the grid, or a model
// that starts with a Linear).
int use_wide_sums(Module& model, const std::vector<Parameter>& grid);

// Every parameter of `model` that is not in `grid` (the same tensor), in registration order: BN
// scales and shifts, biases, float layers.
std::vector<Parameter> other_parameters(const Module& model, const std::vector<Parameter>& grid);

}  // namespace lowbit
