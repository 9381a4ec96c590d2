// The gradient-check table: every differentiable op, each input and each parameter
// against central finite differences (tests/gradcheck.h). Adding an op adds a line here.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/custom_gradient.h"
#include "layers/elementwise.h"
#include "layers/linear.h"
#include "layers/reduce.h"
#include "layers/reshape.h"
#include "layers/shortcut.h"
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
      // --- linear ---
      {"matmul", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r), uniform({4, 5}, r)}, [](const Inputs& in) { return matmul(in[0], in[1]); }}; }},
      {"linear with bias", [](Rng& r) { return GradcheckProblem{{uniform({3, 4}, r), uniform({5, 4}, r), uniform({5}, r)}, [](const Inputs& in) { return linear(in[0], in[1], in[2]); }}; }},
      {"linear without bias", [](Rng& r) { return GradcheckProblem{{uniform({2, 3}, r), uniform({4, 3}, r)}, [](const Inputs& in) { return linear(in[0], in[1]); }}; }},
      {"pad_channels_subsample (option-A shortcut)", [](Rng& r) { return GradcheckProblem{{uniform({2, 3, 5, 5}, r)}, [](const Inputs& in) { return pad_channels_subsample(in[0], 5, 2); }}; }},
      // --- convolution (conv2d, depthwise) ---
      // --- normalization, pooling, activations, dropout, losses ---
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
