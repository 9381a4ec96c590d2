// Batch-norm folding (Goncharenko et al., FAT section 3.1.2, eq. 10-11) as a model transformation:
// a Conv2d or Linear whose output goes straight into a BatchNorm takes the BN's affine map into its
// weight and a bias, so that quantizers see the folded weights.
//   s = gamma / sqrt(sigma^2 + eps);   W_fold = s W (eq. 10);   b_fold = beta + s (b - mu) (eq. 11,
//   b = 0 there)
// The folded BN leaves the model: fold_batch_norms puts an Identity (layers/identity.h) in its
// place with Module::replace_child, so the folded model computes the same function in train mode as
// in eval mode (no batch statistics left to undo the fold) and its state no longer holds the BN's
// parameters and running statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/module.h"

namespace lowbit {

// The factor s_c = gamma_c / sqrt(var_c + eps) by which `bn`, evaluated with its running
// statistics, scales channel c (gamma 1 without affine parameters). var_c + eps is summed in float,
// as batch_norm sums it, the rest in double: folds and integer forms start from the simulation's
// own denominator.
double batch_norm_scale(const BatchNorm& bn, int64_t c);

// Folds `bn` (evaluated with its running statistics) into the weight and bias of the layer that
// feeds it (adding a bias when it has none); `bn` itself is not changed: the caller removes it
// (fold_batch_norms replaces it by an Identity). Throws lowbit::Error when the channel counts
// differ or the layer already has a weight quantizer (fold first, then attach quantizers: folding
// changes the weights that calibrated thresholds describe).
void fold_batch_norm(Conv2d& conv, const BatchNorm& bn);
void fold_batch_norm(Linear& linear, const BatchNorm& bn);

struct BnFoldReport {
  int64_t folded = 0;  // (Conv2d | Linear, BatchNorm) pairs folded
  std::vector<std::string>
      unfolded;  // dotted names of BNs left as they were (not fed by a sole conv/linear)
  double max_abs_difference = 0.0;  // folded vs unfolded eval outputs on the sample
  double max_abs_output =
      0.0;  // max |y| of the unfolded eval outputs, the scale of that difference
};

// Folds every BatchNorm whose input is the output of a Conv2d or Linear call that feeds nothing
// else, and replaces each folded BN by an Identity in its parent. The pairs are found by tracing
// one eval forward of `sample` (a batch shaped as the model's input) with a ForwardObserver, so any
// composite module works. Two things the trace cannot promise are checked afterwards on `sample`:
// that no folded BN is still called (a parent that calls a child through a pointer of its own
// instead of Module::child does not see the replacement), and that the eval outputs equal the
// unfolded ones within 1e-3 of the output scale (a consumer that is not a module call, a functional
// op, is invisible to the trace); either throws, leaving the model partly folded. Leaves the model
// in eval mode. Throws, before changing anything, when a layer to fold has a weight quantizer.
BnFoldReport fold_batch_norms(Module& model, const Tensor& sample);

}  // namespace lowbit
