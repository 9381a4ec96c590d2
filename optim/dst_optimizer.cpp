// DstOptimizer: the base optimizer's proposal turned into grid-state transitions (eq. 12-15),
// parallel over elements with counter-based randomness, and the states' checkpoint blobs.
#include "optim/dst_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
namespace {

constexpr const char* kStatePrefix = "base.";
constexpr const char* kBlobPrefix = "dst.";
constexpr const char* kStepsBlob = "dst_steps";

// The random stream of parameter k at step t: one splitmix64 round per coordinate, so
// neighbouring steps and parameters get unrelated streams.
uint64_t transition_key(uint64_t seed, int64_t step, size_t k) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(step)) ^
                    static_cast<uint64_t>(k));
}

}  // namespace

float grid_fitting_scale(const float* w, int64_t n, const DstSpec& spec) {
  constexpr int64_t kSample = 1 << 14;
  const int64_t stride = std::max<int64_t>(1, (n + kSample - 1) / kSample);
  std::vector<double> sample;
  for (int64_t i = 0; i < n; i += stride) sample.push_back(w[i]);
  double sum_sq = 0;
  for (double x : sample) sum_sq += x * x;
  if (sum_sq == 0) return 1.0f;
  const double rms = std::sqrt(sum_sq / static_cast<double>(sample.size()));
  auto error_at = [&](float c) {
    double error = 0;
    for (double x : sample) {
      const double back =
          static_cast<double>(grid_value(project_to_grid(c * static_cast<float>(x), spec), spec)) /
          c;
      error += (back - x) * (back - x);
    }
    return error;
  };
  // c = 1 is tried first and only a strictly smaller error replaces it, so a tensor that is
  // already on the grid is left exactly as it is.
  float best = 1.0f;
  double best_error = error_at(best);
  for (int j = -64; j <= 16; ++j) {
    const float c = static_cast<float>(std::exp2(j / 16.0) / rms);
    const double error = error_at(c);
    if (error < best_error) {
      best_error = error;
      best = c;
    }
  }
  return best;
}

BaseOptimizerOptions BaseOptimizerOptions::with_adam(AdamOptions options) {
  BaseOptimizerOptions b;
  b.kind = Kind::kAdam;
  b.adam = options;
  return b;
}

BaseOptimizerOptions BaseOptimizerOptions::with_sgd(SgdOptions options) {
  BaseOptimizerOptions b;
  b.kind = Kind::kSgd;
  b.sgd = options;
  return b;
}

DstOptimizer::DstOptimizer(std::vector<Parameter> params, DstSpec spec, BaseOptimizerOptions base,
                           uint64_t seed, GridInit init)
    : Optimizer(std::move(params), base.lr()), spec_(spec), base_options_(base), seed_(seed) {
  max_grid_state(spec_);  // validates the spec (min_exp in -6..0, th > 0)
  if (base.kind == BaseOptimizerOptions::Kind::kAdam) {
    adam_ = std::make_unique<Adam>(params_, base.adam);
  } else {
    sgd_ = std::make_unique<Sgd>(params_, base.sgd);
  }
  NoGradGuard no_grad;
  size_t largest = 0;
  for (size_t k = 0; k < params_.size(); ++k) {
    const Tensor& t = params_[k].tensor;
    const float* w = t.data();
    const float c = init == GridInit::kFittedScale ? grid_fitting_scale(w, t.numel(), spec_) : 1.0f;
    std::vector<GridState> s(static_cast<size_t>(t.numel()));
    for (size_t i = 0; i < s.size(); ++i) s[i] = project_to_grid(c * w[i], spec_);
    states_.push_back(std::move(s));
    init_scales_.push_back(c);
    largest = std::max(largest, static_cast<size_t>(t.numel()));
    decode(k);
  }
  proposal_.resize(largest);
}

void DstOptimizer::propose_step(size_t k, float* delta) {
  if (adam_) {
    adam_->propose_step(k, delta);
    // Adam's decoupled decay (p *= 1 - lr wd before the step) cannot scale a grid weight, so it
    // joins the proposal as the change it would have made: delta += lr wd w.
    const AdamOptions& o = base_options_.adam;
    if (o.decoupled_weight_decay && o.weight_decay > 0) {
      const Tensor& t = params_[k].tensor;
      const float* w = t.data();
      const float shrink = lr() * o.weight_decay;
      parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) delta[i] += shrink * w[i];
      });
    }
  } else {
    sgd_->propose_step(k, delta);
  }
}

void DstOptimizer::step() {
  NoGradGuard no_grad;
  // The schedule sets this optimizer's rate; the base optimizer proposes with it.
  if (adam_) adam_->set_lr(lr());
  if (sgd_) sgd_->set_lr(lr());
  ++steps_;
  for (size_t k = 0; k < params_.size(); ++k) {
    const Tensor& t = params_[k].tensor;
    if (!t.has_grad()) continue;
    float* delta = proposal_.data();
    propose_step(k, delta);
    GridState* s = states_[k].data();
    float* w = t.data();
    const uint64_t key = transition_key(seed_, steps_, k);
    const DstRule rule(spec_);
    parallel_for(t.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        // Δw = -delta: the base optimizer's step is subtracted from the weight.
        s[i] = rule(s[i], -delta[i], key, static_cast<uint64_t>(i));
        w[i] = rule.value(s[i]);
      }
    });
  }
}

void DstOptimizer::decode(size_t k) {
  const std::vector<GridState>& s = states_[k];
  float* w = params_[k].tensor.data();
  for (size_t i = 0; i < s.size(); ++i) w[i] = grid_value(s[i], spec_);
}

void DstOptimizer::reset_state() {
  if (adam_) adam_->reset_state();
  if (sgd_) sgd_->reset_state();
}

std::string DstOptimizer::type_name() const { return adam_ ? "DST+Adam" : "DST+Sgd"; }

std::vector<NamedTensor> DstOptimizer::state() const {
  std::vector<NamedTensor> out = adam_ ? adam_->state() : sgd_->state();
  for (NamedTensor& s : out) s.name = kStatePrefix + s.name;
  return out;
}

void DstOptimizer::load_state(const std::vector<NamedTensor>& state) {
  const std::string prefix = kStatePrefix;
  std::vector<NamedTensor> base;
  for (const NamedTensor& s : state) {
    if (s.name.compare(0, prefix.size(), prefix) == 0)
      base.push_back({s.name.substr(prefix.size()), s.tensor});
  }
  if (adam_) {
    adam_->load_state(base);
  } else {
    sgd_->load_state(base);
  }
}

std::vector<NamedBlob> DstOptimizer::blob_state() const {
  std::vector<NamedBlob> out;
  for (size_t k = 0; k < params_.size(); ++k) {
    const std::vector<GridState>& s = states_[k];
    NamedBlob blob{kBlobPrefix + params_[k].name, std::vector<uint8_t>(s.size())};
    std::memcpy(blob.bytes.data(), s.data(), s.size());
    out.push_back(std::move(blob));
  }
  NamedBlob steps{kStepsBlob, std::vector<uint8_t>(8)};
  const uint64_t count = static_cast<uint64_t>(steps_);
  for (int b = 0; b < 8; ++b) steps.bytes[b] = static_cast<uint8_t>(count >> (8 * b));
  out.push_back(std::move(steps));
  return out;
}

void DstOptimizer::load_blob_state(const std::vector<NamedBlob>& blobs) {
  // Check everything before changing anything, so a bad checkpoint leaves the optimizer intact.
  std::vector<const NamedBlob*> found;
  for (size_t k = 0; k < params_.size(); ++k) {
    const NamedBlob& blob = find_blob(blobs, kBlobPrefix + params_[k].name);
    LOWBIT_CHECK(static_cast<int64_t>(blob.bytes.size()) == params_[k].tensor.numel(),
                 "DST: blob '", blob.name, "' has ", blob.bytes.size(), " bytes, expected ",
                 params_[k].tensor.numel(), " (one per weight)");
    for (uint8_t byte : blob.bytes) {
      const int s = static_cast<GridState>(byte);
      LOWBIT_CHECK(is_grid_state(s, spec_), "DST: blob '", blob.name, "' holds state ", s,
                   ", which is not on the grid of min_exp ", spec_.min_exp,
                   " (saved with another grid?)");
    }
    found.push_back(&blob);
  }
  const NamedBlob& steps = find_blob(blobs, kStepsBlob);
  LOWBIT_CHECK(steps.bytes.size() == 8, "DST: blob '", kStepsBlob, "' has ", steps.bytes.size(),
               " bytes, expected 8");
  NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    std::memcpy(states_[k].data(), found[k]->bytes.data(), states_[k].size());
    decode(k);
  }
  uint64_t count = 0;
  for (int b = 0; b < 8; ++b) count |= static_cast<uint64_t>(steps.bytes[b]) << (8 * b);
  steps_ = static_cast<int64_t>(count);
}

}  // namespace lowbit
