// Power-of-two activation: levels, thresholds, the eq. 7 and clipped slopes, Table 1 of the paper,
// best q2.
#include "layers/quant/pow2_activation.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "layers/elementwise.h"
#include "layers/reduce.h"

using namespace lowbit;

TEST_CASE("levels and thresholds for 3 bits", "[pow2]") {
  const Pow2ActivationSpec s{3, 0.5f, true};
  CHECK(pow2_activation_levels(s) == std::vector<float>{0.0f, 0.5f, 1.0f});
  CHECK(pow2_activation_thresholds(s) == std::vector<float>{0.25f, 0.75f});
  CHECK(pow2_activation_levels({5, 0.125f, true}) ==
        std::vector<float>{0, 0.125f, 0.25f, 0.5f, 1.0f});
}

TEST_CASE("forward values lie on the levels with midpoint thresholds", "[pow2]") {
  const Pow2ActivationSpec s{4, 0.25f, true};  // levels 0, .25, .5, 1
  CHECK(pow2_activation_value(0.10f, s) == 0.0f);
  CHECK(pow2_activation_value(0.125f, s) == 0.0f);  // (t_i, t_{i+1}]: the threshold belongs below
  CHECK(pow2_activation_value(0.13f, s) == 0.25f);
  CHECK(pow2_activation_value(0.375f, s) == 0.25f);
  CHECK(pow2_activation_value(0.38f, s) == 0.5f);
  CHECK(pow2_activation_value(0.76f, s) == 1.0f);
  CHECK(pow2_activation_value(100.0f, s) == 1.0f);
  CHECK(pow2_activation_value(-0.4f, s) == -0.5f);
  CHECK(pow2_activation_value(-0.4f, {4, 0.25f, false}) == 0.0f);
}

TEST_CASE("the backward slope is eq. 7", "[pow2]") {
  const Pow2ActivationSpec s{3, 0.5f, true};  // thresholds 0.25 and 0.75
  CHECK(pow2_activation_slope(0.2f, s) == 0.0f);
  CHECK(pow2_activation_slope(0.5f, s) == 1.0f);
  CHECK(pow2_activation_slope(0.75f, s) == 1.0f);
  // beyond the last threshold: 1 / (x - (0.75 - 1)) = 1 / (x + 0.25)
  CHECK(pow2_activation_slope(1.75f, s) == Approx(0.5f));
  CHECK(pow2_activation_slope(-1.75f, s) == Approx(0.5f));
  CHECK(pow2_activation_slope(-0.5f, {3, 0.5f, false}) == 0.0f);

  Tensor x = Tensor::from_vector({4}, {0.2f, 0.5f, 1.75f, -3.75f});
  x.set_requires_grad(true);
  backward(sum(pow2_activation(x, s)));
  CHECK(x.grad_tensor().to_vector() == std::vector<float>{0.0f, 1.0f, 0.5f, 0.25f});
}

TEST_CASE("the clipped backward is 1 up to the top level, dead zone included, and 0 beyond",
          "[pow2]") {
  const Pow2ActivationSpec s{3, 0.125f, true, Pow2Backward::kClipped};  // levels 0, .125, .25
  CHECK(pow2_activation_slope(0.0f, s) == 1.0f);
  CHECK(pow2_activation_slope(0.05f, s) == 1.0f);  // dead zone: eq. 7 gives 0 here
  CHECK(pow2_activation_slope(0.2f, s) == 1.0f);   // past the last threshold 0.1875, below the top
  CHECK(pow2_activation_slope(0.25f, s) == 1.0f);  // the top level itself
  CHECK(pow2_activation_slope(std::nextafter(0.25f, 1.0f), s) == 0.0f);
  CHECK(pow2_activation_slope(3.0f, s) == 0.0f);  // eq. 7 gives 1 / (3 - (0.1875 - 1)) here
  CHECK(pow2_activation_slope(-0.25f, s) == 1.0f);
  CHECK(pow2_activation_slope(-0.3f, s) == 0.0f);
  CHECK(pow2_activation_slope(-0.1f, {3, 0.125f, false, Pow2Backward::kClipped}) == 0.0f);
  CHECK(pow2_activation_slope(0.1f, {3, 0.125f, false, Pow2Backward::kClipped}) == 1.0f);
  CHECK(pow2_activation_value(0.05f, s) == 0.0f);  // the forward does not depend on the backward
  CHECK(pow2_activation_value(3.0f, s) == 0.25f);

  Tensor x = Tensor::from_vector({5}, {0.05f, 0.2f, 0.3f, -0.1f, -7.0f});
  x.set_requires_grad(true);
  backward(sum(pow2_activation(x, s)));
  CHECK(x.grad_tensor().to_vector() == std::vector<float>{1.0f, 1.0f, 0.0f, 1.0f, 0.0f});
}

TEST_CASE("backward names parse and print", "[pow2]") {
  CHECK(parse_pow2_backward("eq7") == Pow2Backward::kEq7);
  CHECK(parse_pow2_backward("clipped") == Pow2Backward::kClipped);
  CHECK(std::string(pow2_backward_name(Pow2Backward::kClipped)) == "clipped");
  CHECK_THROWS_WITH(parse_pow2_backward("ste"),
                    Catch::Contains("'ste'") && Catch::Contains("eq7 or clipped"));
}

TEST_CASE("the best q2 minimizes the expected error", "[pow2]") {
  // Independent check: a plain scan of eq. 6 over q2 in steps of 1e-3 finds the same minimum.
  for (int bits : {2, 3, 4}) {
    const double best = pow2_activation_best_q2(bits);
    double scan_best = 0.0, scan_error = 1e9;
    for (int i = 1; i < 3000; ++i) {
      const double e = pow2_activation_expected_error({bits, static_cast<float>(i * 1e-3), true});
      if (e < scan_error) scan_error = e, scan_best = i * 1e-3;
    }
    INFO("bits " << bits);
    CHECK(best == Approx(scan_best).margin(2e-3));
    CHECK(pow2_activation_expected_error({bits, static_cast<float>(best), true}) <=
          scan_error + 1e-7);
  }
  CHECK(pow2_activation_best_q2(3) == Approx(0.8430).margin(1e-3));
}

TEST_CASE("the expected error reproduces Table 1 of the paper", "[pow2]") {
  const float q2s[] = {0.0625f, 0.125f, 0.25f, 0.5f, 1.0f};
  // Table 1, rows n = 3..8, columns q2 = 0.0625 .. 1.
  const double table1[6][5] = {
      {0.4078, 0.3298, 0.2106, 0.0825, 0.0458}, {0.3298, 0.2103, 0.0795, 0.0239, 0.0443},
      {0.2102, 0.0791, 0.0209, 0.0223, 0.0443}, {0.0790, 0.0205, 0.0193, 0.0223, 0.0443},
      {0.0204, 0.0189, 0.0193, 0.0223, 0.0443}, {0.0189, 0.0189, 0.0193, 0.0223, 0.0443}};
  for (int n = 3; n <= 8; ++n) {
    for (int j = 0; j < 5; ++j) {
      const double e = pow2_activation_expected_error({n, q2s[j], true});
      INFO("n = " << n << ", q2 = " << q2s[j] << ": " << e);
      CHECK(std::round(e * 1e4) / 1e4 == Approx(table1[n - 3][j]).margin(1e-9));
    }
  }
}

TEST_CASE("bad specs are rejected", "[pow2]") {
  CHECK_THROWS_WITH(Pow2Activation({1, 0.5f, true}), Catch::Contains("bits 1"));
  CHECK_THROWS_WITH(Pow2Activation({3, 0.0f, true}), Catch::Contains("q2"));
}

TEST_CASE("the tensor op equals the scalar value and slope bit for bit", "[pow2]") {
  Rng rng(5);
  for (int bits = 2; bits <= 8; ++bits) {
    for (float q2 : {0.0625f, 0.1f, 0.125f, 0.3f, 1.0f}) {
      for (int variant = 0; variant < 4; ++variant) {
        const bool is_signed = variant % 2 == 0;
        const Pow2Backward proxy = variant < 2 ? Pow2Backward::kEq7 : Pow2Backward::kClipped;
        const Pow2ActivationSpec spec{bits, q2, is_signed, proxy};
        // Every threshold and its float neighbours, zeros of both signs, infinities, NaN, and a
        // spread of values.
        std::vector<float> values = {0.0f,
                                     -0.0f,
                                     std::numeric_limits<float>::infinity(),
                                     -std::numeric_limits<float>::infinity(),
                                     1e30f,
                                     -1e30f,
                                     std::nanf("")};
        for (float t : pow2_activation_thresholds(spec)) {
          for (float v : {t, std::nextafter(t, 0.0f), std::nextafter(t, 1e30f)}) {
            values.push_back(v);
            values.push_back(-v);
          }
        }
        const float last = bits == 2 ? 0.5f * q2 : 0.75f * std::ldexp(q2, bits - 2);
        values.push_back(last);
        values.push_back(-std::nextafter(last, 1e30f));
        const float top = std::ldexp(q2, bits - 2);
        for (float v : {top, std::nextafter(top, 1e30f), -top, -std::nextafter(top, 1e30f)})
          values.push_back(v);
        while (values.size() < 70000)
          values.push_back(rng.normal() * std::ldexp(q2, bits - 1));  // several chunks
        const auto n = static_cast<int64_t>(values.size());
        Tensor x = Tensor::from_vector({n}, values);
        x.set_requires_grad(true);
        Tensor dy = Tensor::empty({n});
        for (int64_t i = 0; i < n; ++i) dy.data()[i] = rng.uniform(-2.0f, 2.0f);
        Tensor y = pow2_activation(x, spec);
        backward(sum(mul(y, dy)));
        const Tensor dx = x.grad_tensor();
        int64_t value_mismatches = 0, slope_mismatches = 0;
        for (int64_t i = 0; i < n; ++i) {
          const float v = values[static_cast<size_t>(i)];
          const float expected_y =
              pow2_activation_value(v, spec);  // bit for bit: the sign of a zero too
          value_mismatches += std::memcmp(&y.data()[i], &expected_y, sizeof expected_y) != 0;
          const float expected_dx = dy.data()[i] * pow2_activation_slope(v, spec);
          const bool both_nan = std::isnan(dx.data()[i]) && std::isnan(expected_dx);
          slope_mismatches += dx.data()[i] != expected_dx && !both_nan;
        }
        INFO("bits " << bits << ", q2 " << q2 << (is_signed ? ", signed" : ", unsigned") << ", "
                     << pow2_backward_name(proxy));
        CHECK(value_mismatches == 0);
        CHECK(slope_mismatches == 0);
      }
    }
  }
}

TEST_CASE("scaled levels: y = a P(x / a), with LSQ's gradient for the trained scale", "[pow2]") {
  // 3 bits, q2 1/8, clipped: levels 0, 0.125, 0.25; thresholds 0.0625 and 0.1875; slope 1 for |u|
  // <= 0.25.
  Pow2ActivationSpec spec{3, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrained};
  Tensor x = Tensor::from_vector({4}, {0.3f, 0.6f, 0.1f, -0.7f});
  x.set_requires_grad(true);
  Tensor scale = Tensor::from_vector({1}, {2.0f});
  scale.set_requires_grad(true);
  const Tensor dy = Tensor::from_vector({4}, {1.0f, 2.0f, 3.0f, 4.0f});
  Tensor y = scaled_pow2_activation(x, scale, spec, 0.5f);
  // u = x / 2 = 0.15, 0.3, 0.05, -0.35 -> P(u) = 0.125, 0.25, 0, -0.25 -> y = 2 P(u).
  CHECK(std::vector<float>(y.data(), y.data() + 4) == std::vector<float>{0.25f, 0.5f, 0.0f, -0.5f});
  backward(sum(mul(y, dy)));
  // dx = dy P'(u), P' = 1, 0, 1, 0.
  CHECK(std::vector<float>(x.grad(), x.grad() + 4) == std::vector<float>{1.0f, 0.0f, 3.0f, 0.0f});
  // dscale = 0.5 * sum dy (P(u) - u P'(u)) = 0.5 * (1 (0.125 - 0.15) + 2 (0.25) + 3 (0 - 0.05) + 4
  // (-0.25)).
  CHECK(scale.grad()[0] == Approx(0.5 * (-0.025 + 0.5 - 0.15 - 1.0)).epsilon(1e-6));
}

TEST_CASE(
    "a scale rounded to a power of two keeps the levels powers of two and passes its gradient "
    "straight",
    "[pow2]") {
  Pow2ActivationSpec spec{3, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrainedPow2};
  const Tensor x = Tensor::from_vector({3}, {0.3f, 0.6f, -0.2f});
  for (auto [trained, used] :
       {std::pair{1.5f, 2.0f}, std::pair{1.3f, 1.0f}, std::pair{0.7f, 0.5f}}) {
    INFO("scale " << trained);
    Tensor scale = Tensor::from_vector({1}, {trained});
    scale.set_requires_grad(true);
    Tensor y = scaled_pow2_activation(x, scale, spec, 1.0f);
    Pow2ActivationSpec fixed = spec;
    fixed.scale = Pow2Scale::kTrained;
    const Tensor expected =
        scaled_pow2_activation(x, Tensor::from_vector({1}, {used}), fixed, 1.0f);
    CHECK(std::vector<float>(y.data(), y.data() + 3) ==
          std::vector<float>(expected.data(), expected.data() + 3));
    backward(sum(y));
    double dscale = 0;  // at the rounded scale
    for (float v : {0.3f, 0.6f, -0.2f}) {
      const float u = v / used;
      dscale += pow2_activation_value(u, fixed) - u * pow2_activation_slope(u, fixed);
    }
    CHECK(scale.grad()[0] == Approx(dscale).epsilon(1e-6));
  }
}

TEST_CASE("the trained scale's gradient is the same sum on any thread count", "[pow2]") {
  Rng rng(11);
  std::vector<float> values(100003);
  for (float& v : values) v = rng.normal();
  Pow2ActivationSpec spec{4, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrained};
  auto dscale = [&](int threads) {
    set_num_threads(threads);
    Tensor x = Tensor::from_vector({static_cast<int64_t>(values.size())}, values);
    Tensor scale = Tensor::from_vector({1}, {0.9f});
    scale.set_requires_grad(true);
    backward(sum(scaled_pow2_activation(x, scale, spec, 1.0f)));
    return scale.grad()[0];
  };
  const float one = dscale(1), two = dscale(2);
  set_num_threads(0);
  CHECK(one == two);
  CHECK(one != 0.0f);
}

TEST_CASE(
    "the layer with a trained scale owns it, starts at the fixed levels and scales LSQ's gradient",
    "[pow2]") {
  Pow2ActivationSpec spec{3, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrained};
  Pow2Activation layer(spec);
  const std::vector<Parameter> params = layer.parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "scale");
  CHECK(params[0].role == ParamRole::kQuantScale);
  CHECK(params[0].tensor.data()[0] == 1.0f);
  Rng rng(2);
  Tensor x = Tensor::empty({2, 3, 4, 4});  // 48 activations per image; Qp = 2 at 3 bits
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.3f * rng.normal();
  Pow2ActivationSpec fixed_spec = spec;
  fixed_spec.scale = Pow2Scale::kFixed;
  const Tensor fixed = pow2_activation(x, fixed_spec);
  Tensor y = layer.forward(x);
  CHECK(std::vector<float>(y.data(), y.data() + y.numel()) ==
        std::vector<float>(fixed.data(), fixed.data() + fixed.numel()));
  backward(sum(y));
  Tensor unscaled = Tensor::from_vector({1}, {1.0f});
  unscaled.set_requires_grad(true);
  backward(sum(scaled_pow2_activation(x, unscaled, spec, 1.0f)));
  CHECK(params[0].tensor.grad()[0] ==
        Approx(unscaled.grad()[0] / std::sqrt(48.0 * 2.0)).epsilon(1e-6));
  CHECK(Pow2Activation(fixed_spec).parameters().empty());  // the fixed levels own nothing
}

TEST_CASE("a scale that is not positive and finite is refused, and scale names parse and print",
          "[pow2]") {
  const Pow2ActivationSpec spec{3, 0.125f, true, Pow2Backward::kClipped, Pow2Scale::kTrained};
  const Tensor x = Tensor::from_vector({1}, {0.5f});
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity(), std::nanf("")})
    CHECK_THROWS_WITH(scaled_pow2_activation(x, Tensor::from_vector({1}, {bad}), spec, 1.0f),
                      Catch::Contains("the trained scale is") &&
                          Catch::Contains("expected a positive finite number"));
  CHECK_THROWS_WITH(scaled_pow2_activation(x, Tensor::from_vector({2}, {1.0f, 1.0f}), spec, 1.0f),
                    Catch::Contains("expected 1"));
  for (Pow2Scale s : {Pow2Scale::kFixed, Pow2Scale::kTrained, Pow2Scale::kTrainedPow2})
    CHECK(parse_pow2_scale(pow2_scale_name(s)) == s);
  CHECK_THROWS_WITH(parse_pow2_scale("learned"),
                    Catch::Contains("expected fixed, trained or trained-pow2"));
}
