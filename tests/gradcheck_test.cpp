// The gradient-check table: every differentiable op, each input and each parameter
// against central finite differences (tests/gradcheck.h). Adding an op adds a line here.
#include "tests/gradcheck.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "core/custom_gradient.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/concatenate.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/elementwise.h"
#include "layers/linear.h"
#include "layers/losses.h"
#include "layers/pooling.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/reduce.h"
#include "layers/reshape.h"
#include "layers/shortcut.h"

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

using Op = std::function<Tensor(const Inputs&)>;

// A case whose inputs are drawn uniform in [-1, 1] (away from 0), one per shape, in order.
GradcheckCase on(std::string name, std::vector<Shape> shapes, Op fn, double eps = 1e-2,
                 double tol = 1e-2) {
  return {std::move(name), [shapes, fn, eps, tol](Rng& r) {
            Inputs inputs;
            for (const Shape& shape : shapes) inputs.push_back(uniform(shape, r));
            return GradcheckProblem{inputs, fn, eps, tol};
          }};
}

// A case that draws its own inputs (ranges, kinks to avoid, constants).
GradcheckCase with(std::string name, std::function<GradcheckProblem(Rng&)> make) {
  return {std::move(name), std::move(make)};
}

Tensor constant(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return Tensor::from_vector({n}, std::move(values));
}

const std::vector<GradcheckCase>& gradcheck_table() {
  // clang-format off
  static const std::vector<GradcheckCase> table = {
    // --- core and arithmetic ---
    on("add", {{2, 3}, {2, 3}}, [](const Inputs& in) { return add(in[0], in[1]); }),
    on("sub", {{2, 3}, {2, 3}}, [](const Inputs& in) { return sub(in[0], in[1]); }),
    on("mul", {{2, 3}, {2, 3}}, [](const Inputs& in) { return mul(in[0], in[1]); }),
    on("mul (same tensor twice)", {{5}}, [](const Inputs& in) { return mul(in[0], in[0]); }),
    on("add_scalar", {{4}}, [](const Inputs& in) { return add_scalar(in[0], 0.7f); }),
    on("mul_scalar", {{4}}, [](const Inputs& in) { return mul_scalar(in[0], -1.5f); }),
    on("sum", {{3, 4}}, [](const Inputs& in) { return sum(in[0]); }),
    on("mean", {{3, 4}}, [](const Inputs& in) { return mean(in[0]); }),
    on("sum over axis 1", {{2, 3, 4}}, [](const Inputs& in) { return sum(in[0], 1); }),
    on("mean over axis -1", {{2, 3, 4}}, [](const Inputs& in) { return mean(in[0], -1); }),
    on("reshape", {{2, 6}},
       [](const Inputs& in) { return mul(reshape(in[0], {3, -1}), reshape(in[0], {3, 4})); }),
    on("flatten", {{2, 3, 2, 2}},
       [](const Inputs& in) { return mul_scalar(flatten(in[0]), 2.0f); }),
    with("custom_gradient (tanh with its derivative)", [](Rng& r) {
      return GradcheckProblem{{uniform({6}, r, -2.0f, 2.0f)}, [](const Inputs& in) {
        return custom_gradient(in[0], "tanh", [](float v) { return std::tanh(v); },
                               [](float v) { return 1.0f - std::tanh(v) * std::tanh(v); });
      }};
    }),
    // x feeds two gated ops: the first backward assigns the gradient, the second adds to it.
    with("gated_gradient (a soft clip with slope 1 inside, used twice)", [](Rng& r) {
      return GradcheckProblem{{uniform({8}, r, -2.0f, 2.0f)}, [](const Inputs& in) {
        auto inside = [](float v) { return v > -1.0f && v < 1.0f; };
        auto clip = [](float v) { return v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v; };
        return add(gated_gradient(in[0], "clip", clip, inside),
                   mul_scalar(gated_gradient(in[0], "clip", clip, inside), 2.0f));
      }};
    }),
    // --- linear ---
    on("matmul", {{3, 4}, {4, 5}}, [](const Inputs& in) { return matmul(in[0], in[1]); }),
    on("linear with bias", {{3, 4}, {5, 4}, {5}},
       [](const Inputs& in) { return linear(in[0], in[1], in[2]); }),
    on("linear without bias", {{2, 3}, {4, 3}},
       [](const Inputs& in) { return linear(in[0], in[1]); }),
    on("concatenate along channels, one input twice", {{2, 3, 2}, {2, 1, 2}},
       [](const Inputs& in) { return concatenate({in[0], in[1], in[0]}, 1); }),
    on("pad_channels_subsample (option-A shortcut)", {{2, 3, 5, 5}},
       [](const Inputs& in) { return pad_channels_subsample(in[0], 5, 2); }),
    // --- convolution (conv2d, depthwise); {stride, padding, groups} ---
    on("conv2d 3x3 stride 2 padding 1 with bias", {{2, 3, 6, 5}, {4, 3, 3, 3}, {4}},
       [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {2, 1, 1}); }),
    on("conv2d 1x1 without bias", {{2, 4, 3, 3}, {5, 4, 1, 1}},
       [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {1, 0, 1}); }),
    on("conv2d groups 2, non-square kernel", {{3, 4, 5, 4}, {6, 2, 3, 1}, {6}},
       [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {1, 1, 2}); }),
    on("conv2d batch of small maps (chunked GEMM)", {{9, 2, 2, 2}, {3, 2, 3, 3}, {3}},
       [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {1, 1, 1}); }),
    on("conv2d depthwise 3x3 stride 1", {{2, 3, 5, 6}, {3, 1, 3, 3}, {3}},
       [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {1, 1, 3}); }),
    on("conv2d depthwise 3x3 stride 2", {{2, 3, 5, 6}, {3, 1, 3, 3}},
       [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {2, 1, 3}); }),
    on("conv2d depthwise 5x5 (general path)", {{1, 2, 6, 6}, {2, 1, 5, 5}},
       [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {1, 2, 2}); }),
    // --- normalization: batch_norm(x, gamma, beta, running mean, running var, training) ---
    with("batch_norm training (N, C, H, W)", [](Rng& r) {
      Tensor x = uniform({3, 2, 2, 3}, r), gamma = uniform({2}, r, 0.5f, 1.5f);
      return GradcheckProblem{{x, gamma, uniform({2}, r)},
                              [](const Inputs& in) {
                                return batch_norm(in[0], in[1], in[2], Tensor::zeros({2}),
                                                  Tensor::full({2}, 1.0f), true);
                              }, 1e-2, 2e-2};
    }),
    with("batch_norm training (N, C)", [](Rng& r) {
      Tensor x = uniform({5, 3}, r), gamma = uniform({3}, r, 0.5f, 1.5f);
      return GradcheckProblem{{x, gamma, uniform({3}, r)},
                              [](const Inputs& in) {
                                return batch_norm(in[0], in[1], in[2], Tensor::zeros({3}),
                                                  Tensor::full({3}, 1.0f), true);
                              }, 1e-2, 2e-2};
    }),
    with("batch_norm eval", [](Rng& r) {
      Tensor x = uniform({2, 3, 2, 2}, r), gamma = uniform({3}, r, 0.5f, 1.5f);
      return GradcheckProblem{{x, gamma, uniform({3}, r)},
                              [](const Inputs& in) {
                                return batch_norm(in[0], in[1], in[2],
                                                  constant({0.1f, -0.2f, 0.3f}),
                                                  constant({0.5f, 2.0f, 1.0f}), false);
                              }};
    }),
    // --- activations (inputs kept away from their kinks), pooling, dropout ---
    with("relu", [](Rng& r) {
      return GradcheckProblem{{uniform_away_from({10}, r, -2, 2, {0.0f})},
                              [](const Inputs& in) { return relu(in[0]); }};
    }),
    with("relu6", [](Rng& r) {
      return GradcheckProblem{{uniform_away_from({12}, r, -2, 8, {0.0f, 6.0f})},
                              [](const Inputs& in) { return relu6(in[0]); }};
    }),
    with("hardtanh", [](Rng& r) {
      return GradcheckProblem{{uniform_away_from({10}, r, -2, 2, {-1.0f, 1.0f})},
                              [](const Inputs& in) { return hardtanh(in[0]); }};
    }),
    with("max_pool2d 3x3 stride 2 padding 1", [](Rng& r) {
      return GradcheckProblem{{distinct_values({2, 2, 5, 5}, r)},
                              [](const Inputs& in) { return max_pool2d(in[0], 3, 2, 1); }, 1e-3};
    }),
    with("max_pool2d 2x2", [](Rng& r) {
      return GradcheckProblem{{distinct_values({1, 2, 4, 4}, r)},
                              [](const Inputs& in) { return max_pool2d(in[0], 2); }, 1e-3};
    }),
    on("avg_pool2d 3x3 stride 2 padding 1", {{2, 2, 5, 5}},
       [](const Inputs& in) { return avg_pool2d(in[0], 3, 2, 1); }),
    on("global_avg_pool", {{2, 3, 2, 3}}, [](const Inputs& in) { return global_avg_pool(in[0]); }),
    on("dropout (fixed mask)", {{40}}, [](const Inputs& in) {
      Rng fixed(3);
      return dropout(in[0], 0.3f, true, fixed);
    }),
    // --- losses ---
    with("cross_entropy", [](Rng& r) {
      return GradcheckProblem{{uniform({4, 5}, r, -2, 2)},
                              [](const Inputs& in) { return cross_entropy(in[0], {0, 3, 4, 1}); }};
    }),
    with("cross_entropy with label smoothing", [](Rng& r) {
      return GradcheckProblem{{uniform({3, 4}, r, -2, 2)}, [](const Inputs& in) {
                                return cross_entropy(in[0], {2, 0, 3}, 0.1f);
                              }};
    }),
    with("distillation_kl T = 4, student and teacher", [](Rng& r) {
      return GradcheckProblem{{uniform({3, 5}, r, -3, 3), uniform({3, 5}, r, -3, 3)},
                              [](const Inputs& in) {
                                return distillation_kl(in[0], in[1], 4.0f);
                              }};
    }),
    with("distillation_kl T = 1", [](Rng& r) {
      return GradcheckProblem{{uniform({2, 4}, r, -2, 2), uniform({2, 4}, r, -2, 2)},
                              [](const Inputs& in) {
                                return distillation_kl(in[0], in[1], 1.0f);
                              }};
    }),
    on("mse_loss", {{2, 3}, {2, 3}}, [](const Inputs& in) { return mse_loss(in[0], in[1]); }),
    on("rmse_loss (eq. 25)", {{2, 3}, {2, 3}},
       [](const Inputs& in) { return rmse_loss(in[0], in[1]); }),
    // --- uniform quantizers with trained threshold scales (FAT eq. 12-23) ---
    // Finite differences see round' = 0, the straight-through backward (eq. 17) takes
    // round' = 1: they agree only where no rounding lies on the path, i.e. on inputs the
    // quantizer saturates (y = +-T, dy/dalpha = +-T_max, dy/dx = 0), with alpha inside its
    // clip range. The unclipped branch and the asymmetric left limit (whose zero point is
    // rounded) are checked against the derivative of the straight-through proxy in
    // tests/uniform_quantizer_test.cpp. Inputs: x, alpha(s), T_max(s); asymmetric: x,
    // alpha_left, alpha_width, left max, width max.
    with("symmetric_quantize scalar, alpha (saturated inputs)", [](Rng& r) {
      return GradcheckProblem{{saturating({8}, r, 1.2f, 3.0f), constant({0.8f}), constant({1.0f})},
                              [](const Inputs& in) {
                                return symmetric_quantize(in[0], in[1], in[2],
                                                          symmetric_quantizer_spec(3, true));
                              }, 1e-2, 1e-2, {2}};
    }),
    with("symmetric_quantize vector (axis 0), alphas (saturated inputs)", [](Rng& r) {
      return GradcheckProblem{{saturating({3, 4}, r, 2.5f, 4.0f), constant({0.6f, 0.8f, 0.9f}),
                               constant({1.0f, 0.5f, 2.0f})},
                              [](const Inputs& in) {
                                return symmetric_quantize(
                                    in[0], in[1], in[2],
                                    symmetric_quantizer_spec(8, true, Granularity::kVector, 0));
                              }, 1e-2, 1e-2, {2}};
    }),
    with("symmetric_quantize unsigned vector (axis 1), alphas (saturated inputs)", [](Rng& r) {
      return GradcheckProblem{{saturating({2, 3, 2}, r, 1.5f, 3.0f),
                               constant({0.7f, 0.55f, 0.95f}), constant({1.0f, 2.0f, 0.5f})},
                              [](const Inputs& in) {
                                return symmetric_quantize(
                                    in[0], in[1], in[2],
                                    symmetric_quantizer_spec(4, false, Granularity::kVector, 1));
                              }, 1e-2, 1e-2, {2}};
    }),
    with("asymmetric_quantize unsigned, alpha_width (left limit 0, saturated inputs)", [](Rng& r) {
      return GradcheckProblem{{saturating({8}, r, 2.0f, 3.0f), constant({0.0f}), constant({0.75f}),
                               constant({0.0f}), constant({2.0f})},
                              [](const Inputs& in) {
                                return asymmetric_quantize(in[0], in[1], in[2], in[3], in[4],
                                                           asymmetric_quantizer_spec(8, false));
                              }, 1e-2, 1e-2, {1, 3, 4}};
    }),
  };
  // clang-format on
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
