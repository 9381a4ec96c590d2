// Optimizer: the interface every update rule shares. It sees Parameters only (core), keeps
// per-parameter state aligned with the parameter list, and exposes that state by name for
// checkpoints. A learning-rate schedule scales base_lr() into lr().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/named_tensor.h"
#include "core/parameter.h"

namespace lowbit {

// The elements of one parallel chunk of an update, at least: below it, threads cost more than the
// element-wise work they share.
constexpr int64_t kUpdateGrain = 1 << 14;

class Optimizer {
 public:
  Optimizer(std::vector<Parameter> params, float lr);
  virtual ~Optimizer() = default;

  // One update from the parameters' gradients (under a NoGradGuard). Parameters without a
  // gradient buffer are skipped.
  virtual void step() = 0;
  // Forgets moments and velocities (warm restarts).
  virtual void reset_state() = 0;
  virtual std::string type_name() const = 0;
  // Per-parameter state named "<kind>.<parameter name>" plus scalar counters.
  virtual std::vector<NamedTensor> state() const = 0;
  // Restores state(); throws lowbit::Error naming a missing or mismatched entry.
  virtual void load_state(const std::vector<NamedTensor>& state) = 0;
  // State that is not a float tensor (e.g. the integer grid states of DST), for checkpoints.
  virtual std::vector<NamedBlob> blob_state() const { return {}; }
  virtual void load_blob_state(const std::vector<NamedBlob>& blobs) { (void)blobs; }
  // True when the optimizer holds its parameters' values itself (grid states): a checkpoint then
  // stores them through blob_state() instead of as float tensors, and load_blob_state() writes the
  // values back into the parameters.
  virtual bool holds_parameter_values() const { return false; }

  void zero_grad();
  float lr() const { return lr_; }
  void set_lr(float lr);
  float base_lr() const { return base_lr_; }
  const std::vector<Parameter>& parameters() const { return params_; }

 protected:
  // Finds `name` in `state` with the given shape (helper for load_state).
  static const Tensor& find_state(const std::vector<NamedTensor>& state, const std::string& name,
                                  const Shape& shape);
  // Finds the blob `name` in `blobs` (helper for load_blob_state); throws lowbit::Error naming a
  // missing one.
  static const NamedBlob& find_blob(const std::vector<NamedBlob>& blobs, const std::string& name);

  std::vector<Parameter> params_;

 private:
  float lr_, base_lr_;
};

}  // namespace lowbit
