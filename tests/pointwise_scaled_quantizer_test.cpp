// Point-wise weight scale factors (FAT section 4.2): the op clip(s) * x and its backward by hand,
// the quantizer equal to its inner quantizer on the scaled weight, dscale = x * (the gradient the
// inner quantizer passes to its input), the clip range, projection, names and errors.
#include "layers/quant/pointwise_scaled_quantizer.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/elementwise.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/reduce.h"

using namespace lowbit;

TEST_CASE("pointwise_scaled_quantizer: the op clip(s) x and its gradients by hand",
          "[pointwise_scaled_quantizer]") {
  Tensor x = Tensor::from_vector({4}, {2.0f, -1.0f, 4.0f, 0.5f});
  Tensor s =
      Tensor::from_vector({4}, {1.0f, 1.25f, 0.5f, 1.5f});  // in range, at the top, below, above
  x.set_requires_grad(true);
  s.set_requires_grad(true);
  const Tensor y = pointwise_scale(x, s, 0.75f, 1.25f);
  CHECK(y.to_vector() == std::vector<float>{2.0f, -1.25f, 3.0f, 0.625f});
  const Tensor w = Tensor::from_vector({4}, {1.0f, 2.0f, 3.0f, 4.0f});
  backward(sum(mul(y, w)));                                                           // dy = w
  CHECK(x.grad_tensor().to_vector() == std::vector<float>{1.0f, 2.5f, 2.25f, 5.0f});  // w clip(s)
  CHECK(s.grad_tensor().to_vector() ==
        std::vector<float>{2.0f, -2.0f, 0.0f, 0.0f});  // w x inside [0.75, 1.25]
}

TEST_CASE("pointwise_scaled_quantizer: forward and scale gradient through the inner quantizer",
          "[pointwise_scaled_quantizer]") {
  const Shape shape({2, 3});
  const std::vector<float> values{0.9f, -0.4f, 0.13f, -0.77f, 0.31f, 0.58f};
  auto inner = std::make_shared<UniformQuantizer>(
      symmetric_quantizer_spec(3, true, Granularity::kVector, 0), 2);
  inner->set_threshold({1.0f, 0.8f});
  PointwiseScaledQuantizer q(inner, shape);
  REQUIRE(q.scale().to_vector() == std::vector<float>(6, 1.0f));
  q.scale().copy_from(Tensor::from_vector(shape, {1.1f, 0.8f, 1.2f, 0.9f, 1.0f, 0.76f}));

  Tensor w = Tensor::from_vector(shape, values);
  const Tensor dy = Tensor::from_vector(shape, {0.5f, -1.0f, 2.0f, 0.25f, -0.5f, 1.5f});
  backward(sum(mul(q.forward(w), dy)));
  const std::vector<float> dscale = q.scale().grad_tensor().to_vector();

  // The same through the inner quantizer alone, on the scaled weight as a leaf.
  Tensor scaled = q.scaled(w);
  scaled.set_requires_grad(true);
  const Tensor expected = inner->forward(scaled);
  CHECK(q.forward(w).to_vector() == expected.to_vector());
  backward(sum(mul(expected, dy)));
  const std::vector<float> dscaled = scaled.grad_tensor().to_vector();
  for (size_t i = 0; i < values.size(); ++i)
    CHECK(dscale[i] == Approx(dscaled[i] * values[i]).margin(1e-6));
  CHECK(q.describe().find("point-wise weight scales in [0.75, 1.25]") != std::string::npos);
}

TEST_CASE("pointwise_scaled_quantizer: names, roles, projection and errors",
          "[pointwise_scaled_quantizer]") {
  auto inner = std::make_shared<UniformQuantizer>(symmetric_quantizer_spec(8, true), 1);
  PointwiseScaledQuantizer q(inner, Shape({3}));
  const std::vector<Parameter> params = q.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "scale");  // its own parameter first, then the inner quantizer's
  CHECK(params[0].role == ParamRole::kQuantScale);
  CHECK(params[1].name == "inner.alpha");
  q.scale().copy_from(Tensor::from_vector({3}, {0.5f, 1.0f, 2.0f}));
  q.project_scales();
  CHECK(q.scale().to_vector() == std::vector<float>{0.75f, 1.0f, 1.25f});

  CHECK_THROWS_WITH(PointwiseScaledQuantizer(nullptr, Shape({3})),
                    Catch::Contains("inner quantizer is null"));
  CHECK_THROWS_WITH(PointwiseScaledQuantizer(inner, Shape({3}), 1.1f, 1.25f),
                    Catch::Contains("range [1.1, 1.25]"));
  CHECK_THROWS_WITH(pointwise_scale(Tensor::zeros({2}), Tensor::zeros({3}), 0.75f, 1.25f),
                    Catch::Contains("one factor per element"));
}
