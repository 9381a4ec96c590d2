// DstOptimizer: weights that live on the power-of-two grid {0, ±2^min_exp, ..., ±1} as int8 states
// (Long et al. 2020, eq. 8-15). A base optimizer (Adam, the paper's choice, or SGD) proposes Δw
// from the gradient; the discrete state transition turns it into a stochastic jump between states.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/adam.h"
#include "optim/discrete_state_transition.h"
#include "optim/optimizer.h"
#include "optim/sgd.h"

namespace lowbit {

// The optimizer that proposes Δw: `kind` selects which of the two option structs is used, the
// other is ignored. Its lr is the DstOptimizer's lr (set_lr and schedules act on it).
struct BaseOptimizerOptions {
  enum class Kind { kAdam, kSgd };
  Kind kind = Kind::kAdam;
  AdamOptions adam;  // used when kind == kAdam
  SgdOptions sgd;    // used when kind == kSgd

  static BaseOptimizerOptions with_adam(AdamOptions options);
  static BaseOptimizerOptions with_sgd(SgdOptions options);
  float lr() const { return kind == Kind::kAdam ? adam.lr : sgd.lr; }
};

// How the constructor maps the parameters' initial float values onto the grid.
//   kNearest:     s = project_to_grid(w), the values as they are. A standard initialization
//                 (|w| ~ 1/sqrt(fan_in), e.g. 0.05 for a 400-input layer) lies almost entirely
//                 within L/2 of zero for L = 1/8, so nearly every weight becomes 0 and the
//                 activations die: lenet5's 120x400 layer is 100% zero this way.
//   kFittedScale: s = project_to_grid(c w) with one c per tensor, the scale at which the grid
//                 represents the tensor best (grid_fitting_scale). A layer followed by batch
//                 normalization computes the same function for any c > 0 (BN divides the scale
//                 out, and a bias before BN is removed with the mean), so this choice costs
//                 nothing there and keeps ~90% of the weights non-zero. A layer not followed by
//                 BN (the last layer under --quantize-last, or a model without BN) has its output
//                 scaled by c: no per-tensor float scale survives on the grid, and its values
//                 cannot be both small and dense there (the grid's smallest step is L); its
//                 inputs are quantized activations bounded by 2^(n-2) q2 anyway, so the float
//                 initialization's scale, chosen for unit-variance inputs, is no reference either.
enum class GridInit { kNearest, kFittedScale };

// The per-tensor factor c of GridInit::kFittedScale: the c that minimizes the quantization error
// measured in the tensor's own units, sum_i (project(c w_i) / c - w_i)^2, i.e. the best
// representation of w by the grid up to a scale (the error is relative, so a tensor and its
// multiples get the same answer). Searched on the target root mean square c · rms(w) = 2^(j/16),
// j = -64..16 (1/16 to 2); the error is evaluated on at most 16384 elements taken at a fixed
// stride, so the result is deterministic and cheap for 10^7-weight layers. For a Gaussian tensor
// and L = 1/8 the minimum is near rms 0.42 (12% zeros); for a uniform one near 0.71 (5% zeros).
// c = 1 is tried first and kept unless another c is strictly better, so a tensor already on the
// grid is left as it is; an all-zero tensor gets 1.
float grid_fitting_scale(const float* w, int64_t n, const DstSpec& spec);

// There is no float shadow copy of a grid weight: each parameter's float tensor (the one the
// convolution or linear GEMM reads) is only ever written by decoding the states, w = s · 2^min_exp
// (eq. 11). One step, per element:
//   Δw = -(the base optimizer's proposed step),  s' = dst_transition(s, Δw)   (eq. 12-15)
// with the two uniforms of the transition drawn from counter_uniform under a key of
// (seed, step count, parameter index), so the states do not depend on the thread count.
class DstOptimizer : public Optimizer {
 public:
  // Maps the parameters' current values onto the grid as `init` says and writes the decoded
  // values back into them.
  DstOptimizer(std::vector<Parameter> params, DstSpec spec, BaseOptimizerOptions base,
               uint64_t seed, GridInit init = GridInit::kFittedScale);

  void step() override;
  // Resets the base optimizer's moments. The step count (the random stream's position) and
  // the grid states are kept: a warm restart must not replay the same random numbers.
  void reset_state() override;
  std::string type_name() const override;
  // The base optimizer's state, each name prefixed with "base.".
  std::vector<NamedTensor> state() const override;
  void load_state(const std::vector<NamedTensor>& state) override;
  // "dst.<parameter name>": the int8 states, one byte per weight; "dst_steps": the step count
  // (8 bytes, little-endian), which fixes the position in the random stream.
  std::vector<NamedBlob> blob_state() const override;
  // Restores the states and the step count, and decodes the states into the parameters.
  // Throws lowbit::Error naming a missing blob, a wrong size or a byte that is not a grid state
  // of this optimizer's spec.
  void load_blob_state(const std::vector<NamedBlob>& blobs) override;
  bool holds_parameter_values() const override { return true; }

  const DstSpec& spec() const { return spec_; }
  const std::vector<GridState>& grid_states(size_t k) const { return states_[k]; }
  int64_t steps() const { return steps_; }
  // The factor c parameter k was multiplied by before its projection (1 under kNearest).
  float init_scale(size_t k) const { return init_scales_[k]; }

 private:
  // The step the base optimizer would subtract from parameter k (advancing its moments).
  void propose_step(size_t k, float* delta);
  // Writes grid_value(states) into parameter k's float tensor.
  void decode(size_t k);

  DstSpec spec_;
  BaseOptimizerOptions base_options_;
  std::unique_ptr<Adam> adam_;  // exactly one of the two is set, by base_options_.kind
  std::unique_ptr<Sgd> sgd_;
  uint64_t seed_;
  int64_t steps_ = 0;
  std::vector<std::vector<GridState>> states_;  // aligned with params_
  std::vector<float> init_scales_;              // aligned with params_
  std::vector<float> proposal_;                 // reused step buffer (the largest parameter)
};

}  // namespace lowbit
