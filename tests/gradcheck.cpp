// Gradient-check harness implementation.
#include "tests/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd.h"

namespace lowbit::testing {
namespace {

double weighted_sum(const Tensor& out, const std::vector<double>& r) {
  double s = 0.0;
  const float* p = out.data();
  for (int64_t i = 0; i < out.numel(); ++i)
    s += static_cast<double>(p[i]) * r[static_cast<size_t>(i)];
  return s;
}

bool is_constant(const GradcheckProblem& problem, size_t k) {
  return std::find(problem.constant_inputs.begin(), problem.constant_inputs.end(), k) !=
         problem.constant_inputs.end();
}

}  // namespace

GradcheckResult gradcheck(const GradcheckProblem& problem) {
  GradcheckResult result;
  std::vector<Tensor> inputs;
  for (size_t k = 0; k < problem.inputs.size(); ++k) {
    Tensor leaf = problem.inputs[k].clone();
    if (!is_constant(problem, k)) leaf.set_requires_grad(true);
    inputs.push_back(leaf);
  }

  // Analytic gradients.
  Tensor out = problem.fn(inputs);
  Rng rng(12345);
  std::vector<double> r(static_cast<size_t>(out.numel()));
  Tensor seed = Tensor::empty(out.shape());
  for (size_t i = 0; i < r.size(); ++i) {
    seed.data()[i] = rng.uniform(-1.0f, 1.0f);
    r[i] = seed.data()[i];
  }
  backward(out, seed);

  std::ostringstream report;
  int mismatches = 0;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (is_constant(problem, k)) continue;
    const Tensor& x = inputs[k];
    const std::vector<float> analytic = x.grad_tensor().to_vector();
    float* values = x.data();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float saved = values[i];
      values[i] = static_cast<float>(saved + problem.eps);
      const double plus = weighted_sum(problem.fn(inputs), r);
      values[i] = static_cast<float>(saved - problem.eps);
      const double minus = weighted_sum(problem.fn(inputs), r);
      values[i] = saved;
      // The actual step taken in float, not the nominal eps.
      const double step = static_cast<double>(static_cast<float>(saved + problem.eps)) -
                          static_cast<double>(static_cast<float>(saved - problem.eps));
      const double numeric = (plus - minus) / step;
      const double a = analytic[static_cast<size_t>(i)];
      const double error =
          std::fabs(a - numeric) / std::max({std::fabs(a), std::fabs(numeric), 1.0});
      result.worst_error = std::max(result.worst_error, error);
      result.max_abs_grad = std::max(result.max_abs_grad, std::fabs(a));
      if (error > problem.tol) {
        result.ok = false;
        if (mismatches++ < 5) {
          report << "input " << k << " element " << i << ": analytic " << a << ", numeric "
                 << numeric << "\n";
        }
      }
    }
  }
  if (mismatches > 5) report << "... " << mismatches << " mismatches in all\n";
  result.report = report.str();
  return result;
}

Tensor eval_no_grad(Module& model, const Tensor& x) {
  NoGradGuard no_grad;
  model.eval();
  return model(x);
}

Tensor random_tensor(const Shape& shape, Rng& rng, float low, float high) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(low, high);
  return t;
}

Tensor uniform_away_from(const Shape& shape, Rng& rng, float low, float high,
                         const std::vector<float>& kinks, float margin) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v;
    bool near_kink;
    do {
      v = rng.uniform(low, high);
      near_kink = false;
      for (float k : kinks) near_kink = near_kink || std::fabs(v - k) < margin;
    } while (near_kink);
    t.data()[i] = v;
  }
  return t;
}

Tensor distinct_values(const Shape& shape, Rng& rng, float low, float high) {
  Tensor t = Tensor::empty(shape);
  const int64_t n = t.numel();
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    values[static_cast<size_t>(i)] =
        n == 1 ? low : low + (high - low) * static_cast<float>(i) / static_cast<float>(n - 1);
  }
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(values[static_cast<size_t>(i)], values[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

}  // namespace lowbit::testing
