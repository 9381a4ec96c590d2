// The gradient-check harness: central finite differences on every input, accumulated in
// double, against the analytic gradient from backward(). The scalar under test is
// L = sum_i out[i] * r[i] with fixed random weights r, so every output element matters.
// An element passes when |analytic - numeric| <= tol * max(|analytic|, |numeric|, 1).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace lowbit::testing {

struct GradcheckProblem {
  std::vector<Tensor> inputs;  // every one is checked; they are made leaves with grad
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  double eps = 1e-2;  // finite-difference step
  double tol = 1e-2;
  // Inputs whose gradient is not defined (integer labels, masks): not perturbed or checked.
  std::vector<size_t> constant_inputs = {};
};

struct GradcheckResult {
  bool ok = true;
  double worst_error = 0.0;   // the largest |a - n| / max(|a|, |n|, 1)
  double max_abs_grad = 0.0;  // largest |analytic| seen (a check against all-zero grads)
  std::string report;         // the first mismatches, for the failure message
};

GradcheckResult gradcheck(const GradcheckProblem& problem);

// model(x) in eval mode without recording a graph (the model stays in eval mode).
Tensor eval_no_grad(Module& model, const Tensor& x);

// Uniform values in [low, high).
Tensor random_tensor(const Shape& shape, Rng& rng, float low = -1.0f, float high = 1.0f);

// Uniform values in [low, high) that stay at least `margin` away from every kink, so
// that a step of eps < margin never crosses one.
Tensor uniform_away_from(const Shape& shape, Rng& rng, float low, float high,
                         const std::vector<float>& kinks = {}, float margin = 0.05f);

// A random permutation of evenly spaced values in [low, high]: all distinct by
// (high - low) / (n - 1), so max-pooling's choice never flips under a small step.
Tensor distinct_values(const Shape& shape, Rng& rng, float low = -1.0f, float high = 1.0f);

}  // namespace lowbit::testing
