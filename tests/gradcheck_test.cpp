// The gradient-check table: every differentiable op, each input and each parameter
// against central finite differences (tests/gradcheck.h). Adding an op adds a line here.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/custom_gradient.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/elementwise.h"
#include "layers/losses.h"
#include "layers/pooling.h"
#include "layers/linear.h"
#include "layers/reduce.h"
#include "layers/reshape.h"
#include "layers/shortcut.h"
#include "layers/quant/uniform_quantizer.h"
#include "tests/gradcheck.h"

using namespace lowbit;
using namespace lowbit::testing;

namespace {

using Inputs = std::vector<Tensor>;

struct GradcheckCase {
  std::string name;
  std::function<GradcheckProblem(Rng&)> make;
};

Tensor uniform(const Shape& shape, Rng& rng, float low = -1.0f, float high = 1.0f) {
  return uniform_away_from(shape, rng, low, high);
}

// Values with |x| in [low, high], signs alternating: inputs that a quantizer saturates.
Tensor saturating(const Shape& shape, Rng& rng, float low, float high) {
  Tensor t = uniform(shape, rng, low, high);
  for (int64_t i = 1; i < t.numel(); i += 2) t.data()[i] = -t.data()[i];
  return t;
}

const std::vector<GradcheckCase>& gradcheck_table() {
  static const std::vector<GradcheckCase> table = {
      // --- core and arithmetic ---
      {"add", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({2, 3}, r)}, [](const Inputs& in) { return add(in[0], in[1]); }}; }},
      {"sub", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({2, 3}, r)}, [](const Inputs& in) { return sub(in[0], in[1]); }}; }},
      {"mul", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({2, 3}, r)}, [](const Inputs& in) { return mul(in[0], in[1]); }}; }},
      {"mul (same tensor twice)", [](Rng& r) { return GradcheckProblem{{uniform({5}, r)}, [](const Inputs& in) { return mul(in[0], in[0]); }}; }},
      {"add_scalar", [](Rng& r) { return GradcheckProblem{{uniform({4}, r)}, [](const Inputs& in) { return add_scalar(in[0], 0.7f); }}; }},
      {"mul_scalar", [](Rng& r) { return GradcheckProblem{{uniform({4}, r)}, [](const Inputs& in) { return mul_scalar(in[0], -1.5f); }}; }},
      {"sum", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r)}, [](const Inputs& in) { return sum(in[0]); }}; }},
      {"mean", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r)}, [](const Inputs& in) { return mean(in[0]); }}; }},
      {"sum over axis 1", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 4}, r)}, [](const Inputs& in) { return sum(in[0], 1); }}; }},
      {"mean over axis -1", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 4}, r)}, [](const Inputs& in) { return mean(in[0], -1); }}; }},
      {"reshape", [](Rng& r) { return GradcheckProblem{{uniform({2, 6}, r)}, [](const Inputs& in) { return mul(reshape(in[0], {3, -1}), reshape(in[0], {3, 4})); }}; }},
      {"flatten", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 2, 2}, r)}, [](const Inputs& in) { return mul_scalar(flatten(in[0]), 2.0f); }}; }},
      {"custom_gradient (tanh with its derivative)", [](Rng& r) {
         return GradcheckProblem{{uniform({6}, r, -2.0f, 2.0f)}, [](const Inputs& in) {
           return custom_gradient(in[0], "tanh", [](float v) { return std::tanh(v); },
                                  [](float v) { return 1.0f - std::tanh(v) * std::tanh(v); });
         }};
       }},
      // x feeds two gated ops: the first backward assigns the gradient, the second adds to it.
      {"gated_gradient (a soft clip with slope 1 inside, used twice)", [](Rng& r) {
         return GradcheckProblem{{uniform({8}, r, -2.0f, 2.0f)}, [](const Inputs& in) {
           auto inside = [](float v) { return v > -1.0f && v < 1.0f; };
           auto clip = [](float v) { return v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v; };
           return add(gated_gradient(in[0], "clip", clip, inside), mul_scalar(gated_gradient(in[0], "clip", clip, inside), 2.0f));
         }};
       }},
      // --- linear ---
      {"matmul", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r), uniform({4, 5}, r)}, [](const Inputs& in) { return matmul(in[0], in[1]); }}; }},
      {"linear with bias", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r), uniform({5, 4}, r), uniform({5}, r)}, [](const Inputs& in) { return linear(in[0], in[1], in[2]); }}; }},
      {"linear without bias", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({4, 3}, r)}, [](const Inputs& in) { return linear(in[0], in[1]); }}; }},
      {"pad_channels_subsample (option-A shortcut)", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 5, 5}, r)}, [](const Inputs& in) { return pad_channels_subsample(in[0], 5, 2); }}; }},
      // --- convolution (conv2d, depthwise) ---
      {"conv2d 3x3 stride 2 padding 1 with bias", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 6, 5}, r), uniform({4, 3, 3, 3}, r), uniform({4}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {2, 1, 1}); }}; }},
      {"conv2d 1x1 without bias", [](Rng& r) { return GradcheckProblem{{uniform({2, 4, 3, 3}, r), uniform({5, 4, 1, 1}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {1, 0, 1}); }}; }},
      {"conv2d groups 2, non-square kernel", [](Rng& r) { return GradcheckProblem{{uniform({3, 4, 5, 4}, r), uniform({6, 2, 3, 1}, r), uniform({6}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {1, 1, 2}); }}; }},
      {"conv2d batch of small maps (chunked GEMM)", [](Rng& r) { return GradcheckProblem{{uniform({9, 2, 2, 2}, r), uniform({3, 2, 3, 3}, r), uniform({3}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {1, 1, 1}); }}; }},
      {"conv2d depthwise 3x3 stride 1", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 5, 6}, r), uniform({3, 1, 3, 3}, r), uniform({3}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {1, 1, 3}); }}; }},
      {"conv2d depthwise 3x3 stride 2", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 5, 6}, r), uniform({3, 1, 3, 3}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {2, 1, 3}); }}; }},
      {"conv2d depthwise 5x5 (general path)", [](Rng& r) { return GradcheckProblem{{uniform({1, 2, 6, 6}, r), uniform({2, 1, 5, 5}, r)}, [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {1, 2, 2}); }}; }},
      // --- normalization, pooling, activations, dropout, losses ---
      {"batch_norm training (N, C, H, W)", [](Rng& r) { return GradcheckProblem{{uniform({3, 2, 2, 3}, r), uniform({2}, r, 0.5f, 1.5f), uniform({2}, r)}, [](const Inputs& in) { return batch_norm(in[0], in[1], in[2], Tensor::zeros({2}), Tensor::full({2}, 1.0f), true); }, 1e-2, 2e-2}; }},
      {"batch_norm training (N, C)", [](Rng& r) { return GradcheckProblem{{uniform({5, 3}, r), uniform({3}, r, 0.5f, 1.5f), uniform({3}, r)}, [](const Inputs& in) { return batch_norm(in[0], in[1], in[2], Tensor::zeros({3}), Tensor::full({3}, 1.0f), true); }, 1e-2, 2e-2}; }},
      {"batch_norm eval", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 2, 2}, r), uniform({3}, r, 0.5f, 1.5f), uniform({3}, r)}, [](const Inputs& in) { return batch_norm(in[0], in[1], in[2], Tensor::from_vector({3}, {0.1f, -0.2f, 0.3f}), Tensor::from_vector({3}, {0.5f, 2.0f, 1.0f}), false); }}; }},
      {"relu", [](Rng& r) { return GradcheckProblem{{uniform_away_from({10}, r, -2, 2, {0.0f})}, [](const Inputs& in) { return relu(in[0]); }}; }},
      {"relu6", [](Rng& r) { return GradcheckProblem{{uniform_away_from({12}, r, -2, 8, {0.0f, 6.0f})}, [](const Inputs& in) { return relu6(in[0]); }}; }},
      {"hardtanh", [](Rng& r) { return GradcheckProblem{{uniform_away_from({10}, r, -2, 2, {-1.0f, 1.0f})}, [](const Inputs& in) { return hardtanh(in[0]); }}; }},
      {"max_pool2d 3x3 stride 2 padding 1", [](Rng& r) { return GradcheckProblem{{distinct_values({2, 2, 5, 5}, r)}, [](const Inputs& in) { return max_pool2d(in[0], 3, 2, 1); }, 1e-3}; }},
      {"max_pool2d 2x2", [](Rng& r) { return GradcheckProblem{{distinct_values({1, 2, 4, 4}, r)}, [](const Inputs& in) { return max_pool2d(in[0], 2); }, 1e-3}; }},
      {"avg_pool2d 3x3 stride 2 padding 1", [](Rng& r) { return GradcheckProblem{{uniform({2, 2, 5, 5}, r)}, [](const Inputs& in) { return avg_pool2d(in[0], 3, 2, 1); }}; }},
      {"global_avg_pool", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 2, 3}, r)}, [](const Inputs& in) { return global_avg_pool(in[0]); }}; }},
      {"dropout (fixed mask)", [](Rng& r) { return GradcheckProblem{{uniform({40}, r)}, [](const Inputs& in) { Rng fixed(3); return dropout(in[0], 0.3f, true, fixed); }}; }},
      {"cross_entropy", [](Rng& r) { return GradcheckProblem{{uniform({4, 5}, r, -2, 2)}, [](const Inputs& in) { return cross_entropy(in[0], {0, 3, 4, 1}); }}; }},
      {"cross_entropy with label smoothing", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r, -2, 2)}, [](const Inputs& in) { return cross_entropy(in[0], {2, 0, 3}, 0.1f); }}; }},
      {"distillation_kl T = 4, student and teacher", [](Rng& r) { return GradcheckProblem{{uniform({3, 5}, r, -3, 3), uniform({3, 5}, r, -3, 3)}, [](const Inputs& in) { return distillation_kl(in[0], in[1], 4.0f); }}; }},
      {"distillation_kl T = 1", [](Rng& r) { return GradcheckProblem{{uniform({2, 4}, r, -2, 2), uniform({2, 4}, r, -2, 2)}, [](const Inputs& in) { return distillation_kl(in[0], in[1], 1.0f); }}; }},
      {"mse_loss", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({2, 3}, r)}, [](const Inputs& in) { return mse_loss(in[0], in[1]); }}; }},
      // --- uniform quantizers with trained threshold scales (FAT eq. 12-23) ---
      // Finite differences see round' = 0, the straight-through backward (eq. 17) takes round' = 1: they
      // agree only where no rounding lies on the path, i.e. on inputs the quantizer saturates (y = +-T,
      // dy/dalpha = +-T_max, dy/dx = 0), with alpha inside its clip range. The unclipped branch and the
      // asymmetric left limit (whose zero point is rounded) are checked against the derivative of the
      // straight-through proxy in tests/uniform_quantizer_test.cpp.
      {"symmetric_quantize scalar, alpha (saturated inputs)", [](Rng& r) { return GradcheckProblem{{saturating({8}, r, 1.2f, 3.0f), Tensor::from_vector({1}, {0.8f}), Tensor::from_vector({1}, {1.0f})}, [](const Inputs& in) { return symmetric_quantize(in[0], in[1], in[2], symmetric_quantizer_spec(3, true)); }, 1e-2, 1e-2, {2}}; }},
      {"symmetric_quantize vector (axis 0), alphas (saturated inputs)", [](Rng& r) { return GradcheckProblem{{saturating({3, 4}, r, 2.5f, 4.0f), Tensor::from_vector({3}, {0.6f, 0.8f, 0.9f}), Tensor::from_vector({3}, {1.0f, 0.5f, 2.0f})}, [](const Inputs& in) { return symmetric_quantize(in[0], in[1], in[2], symmetric_quantizer_spec(8, true, Granularity::kVector, 0)); }, 1e-2, 1e-2, {2}}; }},
      {"symmetric_quantize unsigned vector (axis 1), alphas (saturated inputs)", [](Rng& r) { return GradcheckProblem{{saturating({2, 3, 2}, r, 1.5f, 3.0f), Tensor::from_vector({3}, {0.7f, 0.55f, 0.95f}), Tensor::from_vector({3}, {1.0f, 2.0f, 0.5f})}, [](const Inputs& in) { return symmetric_quantize(in[0], in[1], in[2], symmetric_quantizer_spec(4, false, Granularity::kVector, 1)); }, 1e-2, 1e-2, {2}}; }},
      {"asymmetric_quantize unsigned, alpha_width (left limit 0, saturated inputs)", [](Rng& r) { return GradcheckProblem{{saturating({8}, r, 2.0f, 3.0f), Tensor::from_vector({1}, {0.0f}), Tensor::from_vector({1}, {0.75f}), Tensor::from_vector({1}, {0.0f}), Tensor::from_vector({1}, {2.0f})}, [](const Inputs& in) { return asymmetric_quantize(in[0], in[1], in[2], in[3], in[4], asymmetric_quantizer_spec(8, false)); }, 1e-2, 1e-2, {1, 3, 4}}; }},
      {"rmse_loss (eq. 25)", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({2, 3}, r)}, [](const Inputs& in) { return rmse_loss(in[0], in[1]); }}; }},
  };
  return table;
}

}  // namespace

TEST_CASE("gradcheck: every op in the table matches finite differences", "[gradcheck]") {
  for (const GradcheckCase& c : gradcheck_table()) {
    DYNAMIC_SECTION(c.name) {
      Rng rng(7);
      const GradcheckProblem problem = c.make(rng);
      const GradcheckResult result = gradcheck(problem);
      INFO(c.name << ": worst relative error " << result.worst_error << "\n" << result.report);
      CHECK(result.ok);
      CHECK(result.max_abs_grad > 0.0);  // an op whose backward writes nothing fails here
    }
  }
}
