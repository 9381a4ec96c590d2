// Threshold folding (models/transforms/threshold_folding.h) and the threshold operation
// (core/runtime/thresholds.h): the binary search's exact thresholds, hand-computed thresholds of
// BNs with positive, negative and zero scales, with a shortcut and beyond the accumulator's range,
// the folded map equal to the float simulation at every accumulator, and the operation's parameters
// and file form.
#include "models/transforms/threshold_folding.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "core/runtime/lbm_format.h"
#include "core/runtime/thresholds.h"
#include "layers/elementwise.h"

using namespace lowbit;
using runtime::ThresholdMap;

namespace {

constexpr int64_t kAlways = ThresholdMap::kAlways, kNever = ThresholdMap::kNever;

// A BN whose var + eps is exactly 1 (eps = 2^-20), so that scale = gamma and shift = beta - mean
// gamma are what the test writes.
std::shared_ptr<BatchNorm> exact_bn(const std::vector<float>& gamma,
                                    const std::vector<float>& beta) {
  const auto c = static_cast<int64_t>(gamma.size());
  auto bn = std::make_shared<BatchNorm>(c, 0.1f, std::ldexp(1.0f, -20));
  for (int64_t k = 0; k < c; ++k) {
    bn->weight().data()[k] = gamma[static_cast<size_t>(k)];
    bn->bias().data()[k] = beta[static_cast<size_t>(k)];
    bn->running_var().data()[k] = 1.0f - std::ldexp(1.0f, -20);
  }
  bn->eval();
  return bn;
}

// The 3-bit signed activation of q2 = 1/8: levels -1/4, -1/8, 0, 1/8, 1/4 (indices 0..4), up a
// level where |y| > 1/16 and > 3/16.
Pow2ActivationSpec three_bit() { return {3, 0.125f, true}; }

// Units of 1/64: step_x = step_w = 1/8.
ThresholdLayer layer_of(const BatchNorm& bn, Pow2Activation& act, int64_t bound) {
  ThresholdLayer t;
  t.channels = bn.channels();
  t.bound = bound;
  t.step_x = t.step_w = 0.125f;
  t.bn = &bn;
  t.activation = &act;
  return t;
}

std::vector<int64_t> row(const ThresholdMap& m, int64_t c, int64_t j = 0) {
  const auto n = static_cast<int64_t>(m.levels.size()) - 1;
  const int64_t r = c * m.rows_per_channel() + j;
  return {m.thresholds.begin() + r * n, m.thresholds.begin() + (r + 1) * n};
}

}  // namespace

TEST_CASE("search_thresholds: the first accumulator of each level, kAlways and kNever at the ends",
          "[pow2][levels][integer]") {
  // Four maps on -10..10 to levels 0..2.
  auto f = [](int64_t r, int64_t a) -> int {
    switch (r) {
      case 0:
        return a >= 9 ? 2 : a >= 5 ? 1 : 0;
      case 1:
        return 1;  // constant: level 1 from the start, level 2 never
      case 2:
        return a >= 100 ? 2 : a >= -100 ? 1 : 0;  // both changes beyond the range
      default:
        return a >= 10 ? 2 : a >= -9 ? 1 : 0;  // at the last accumulator, one past the first
    }
  };
  int64_t batches = 0;
  const std::vector<int64_t> t =
      search_thresholds(4, 3, -10, 10, [&](const std::vector<int64_t>& acc, std::vector<int>& out) {
        REQUIRE(acc.size() == 8);
        ++batches;
        out.resize(acc.size());
        for (size_t l = 0; l < acc.size(); ++l) {
          CHECK(acc[l] >= -10);
          CHECK(acc[l] <= 10);
          out[l] = f(static_cast<int64_t>(l / 2), acc[l]);
        }
      });
  CHECK(t == std::vector<int64_t>{5, 9, kAlways, kNever, kAlways, kNever, -9, 10});
  CHECK(batches <= 6);  // ceil(log2(22)) = 5, and one to find every lane closed
}

TEST_CASE("fold_thresholds: positive, negative and zero BN scales, levels beyond the range",
          "[pow2][levels][integer]") {
  // y = acc / 64 * gamma + beta:
  //   0: gamma 1: up a level at |acc| > 4 and > 12
  //   1: gamma -2, beta 1/4: decreasing; on the negated accumulator a, y = a / 32 + 1/4
  //   2: gamma 0, beta 0.15: level 1/8 (index 3) whatever the accumulator
  //   3: gamma 1/64: |y| <= 20 / 4096, always level 0 (index 2)
  const auto bn = exact_bn({1.0f, -2.0f, 0.0f, 1.0f / 64}, {0.0f, 0.25f, 0.15f, 0.0f});
  Pow2Activation act(three_bit());
  const FoldedThresholds f = fold_thresholds(layer_of(*bn, act, 20), 22);
  CHECK(f.map.levels == std::vector<int32_t>{-1048576, -524288, 0, 524288, 1048576});
  CHECK(f.map.shortcuts.empty());
  CHECK(f.negated == std::vector<bool>{false, true, false, false});
  CHECK(row(f.map, 0) == std::vector<int64_t>{-12, -4, 5, 13});
  // y >= -3/16 at a >= -14, >= -1/16 at -10, > 1/16 at -5, > 3/16 at -1.
  CHECK(row(f.map, 1) == std::vector<int64_t>{-14, -10, -5, -1});
  CHECK(row(f.map, 2) == std::vector<int64_t>{kAlways, kAlways, kAlways, kNever});
  CHECK(row(f.map, 3) == std::vector<int64_t>{kAlways, kAlways, kNever, kNever});
  // On the map: channel 0 at and around its thresholds.
  for (const auto& [acc, level] : std::vector<std::pair<int64_t, int32_t>>{{-20, -1048576},
                                                                           {-13, -1048576},
                                                                           {-12, -524288},
                                                                           {-5, -524288},
                                                                           {-4, 0},
                                                                           {4, 0},
                                                                           {5, 524288},
                                                                           {12, 524288},
                                                                           {13, 1048576},
                                                                           {20, 1048576}})
    CHECK(f.map.apply(f.map.row(0, 0), acc) == level);
}

TEST_CASE("fold_thresholds: a shortcut's level shifts the thresholds, one row per value",
          "[pow2][levels][integer]") {
  const auto bn = exact_bn({1.0f}, {0.0f});
  Pow2Activation act(three_bit());
  ThresholdLayer t = layer_of(*bn, act, 20);
  t.shortcut = {{-524288, -0.125f}, {0, 0.0f}, {524288, 0.125f}};
  const FoldedThresholds f = fold_thresholds(t, 22);
  CHECK(f.map.shortcuts == std::vector<int32_t>{-524288, 0, 524288});
  // y = acc / 64 + s: s = -1/8 moves channel 0's thresholds -12, -4, 5, 13 up by 8, s = 1/8 down.
  CHECK(row(f.map, 0, 0) == std::vector<int64_t>{-4, 4, 13, kNever});  // 21 > 20
  CHECK(row(f.map, 0, 1) == std::vector<int64_t>{-12, -4, 5, 13});
  CHECK(row(f.map, 0, 2) == std::vector<int64_t>{kAlways, -12, -3, 5});  // -20 is the lowest
  CHECK(f.map.apply(f.map.row(0, 524288), -3) == 524288);
  CHECK(f.map.apply(f.map.row(0, 524288), -4) == 0);
  CHECK(f.map.apply(f.map.row(0, -524288), 20) == 524288);
}

TEST_CASE("the folded thresholds are the float simulation at every accumulator",
          "[pow2][levels][integer]") {
  // Trained-looking BNs (scales of both signs, means and shifts off any grid) and an unsigned
  // 4-bit activation, with and without a shortcut.
  Rng rng(7);
  const int64_t c = 6, bound = 600;
  BatchNorm bn(c);
  for (int64_t k = 0; k < c; ++k) {
    bn.weight().data()[k] = (k % 3 == 1 ? -1.0f : 1.0f) * (0.05f + 0.3f * rng.uniform());
    bn.bias().data()[k] = 0.2f * (rng.uniform() - 0.5f);
    bn.running_mean().data()[k] = 3.0f * (rng.uniform() - 0.5f);
    bn.running_var().data()[k] = 0.5f + 4.0f * rng.uniform();
  }
  bn.eval();
  for (bool is_signed : {true, false}) {
    Pow2Activation act({4, 0.125f, is_signed});
    ThresholdLayer t = layer_of(bn, act, bound);
    if (!is_signed) t.shortcut = pow2_level_values(act, 22);
    const FoldedThresholds f = fold_thresholds(t, 22);
    const std::vector<LevelValue> levels = pow2_level_values(act, 22);
    const int64_t shortcuts = std::max<int64_t>(1, t.shortcut.size()), n = 2 * bound + 1;
    // The simulation's value of every (channel, shortcut, accumulator), as the model computes it.
    Tensor x = Tensor::empty({1, c, 1, shortcuts * n}), s = Tensor::zeros(x.shape());
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < shortcuts; ++j)
        for (int64_t a = -bound; a <= bound; ++a) {
          const int64_t i = (k * shortcuts + j) * n + a + bound;
          x.data()[i] = static_cast<float>(a) / 64.0f;
          if (!t.shortcut.empty()) s.data()[i] = t.shortcut[static_cast<size_t>(j)].value;
        }
    NoGradGuard no_grad;
    const Tensor y = act.forward(add(bn.forward(x), s));
    int64_t changes = 0;
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < shortcuts; ++j) {
        const int32_t value = t.shortcut.empty() ? 0 : t.shortcut[static_cast<size_t>(j)].fixed;
        for (int64_t a = -bound; a <= bound; ++a) {
          const float expected = y.data()[(k * shortcuts + j) * n + a + bound];
          const int64_t acc = f.negated[static_cast<size_t>(k)] ? -a : a;
          const int32_t got = f.map.apply(f.map.row(k, value), acc);
          INFO("channel " << k << ", shortcut " << j << ", accumulator " << a);
          REQUIRE(got == std::lround(std::ldexp(double(expected), 22)));
          changes += a > -bound && expected != y.data()[(k * shortcuts + j) * n + a + bound - 1];
        }
      }
    CHECK(changes > 4 * c);  // the maps do change level inside the range
    CHECK(f.negated[1]);
    CHECK_FALSE(f.negated[0]);
  }
}

TEST_CASE("BN computes the same float32 on (N, C) and on (N, C, H, W) values",
          "[pow2][levels][integer]") {
  // fold_thresholds evaluates every layer's BN on (1, C, 1, K); a Linear's BN runs on (N, C).
  Rng rng(3);
  BatchNorm bn(5);
  for (int64_t k = 0; k < 5; ++k) {
    bn.weight().data()[k] = rng.uniform() - 0.5f;
    bn.running_mean().data()[k] = rng.uniform();
    bn.running_var().data()[k] = 0.1f + rng.uniform();
    bn.bias().data()[k] = rng.uniform() - 0.5f;
  }
  bn.eval();
  const int64_t n = 100;
  Tensor flat = Tensor::empty({n, 5}), image = Tensor::empty({1, 5, 1, n});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 5; ++k)
      flat.data()[i * 5 + k] = image.data()[k * n + i] = 8.0f * (rng.uniform() - 0.5f);
  NoGradGuard no_grad;
  const Tensor a = bn.forward(flat), b = bn.forward(image);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 5; ++k) REQUIRE(a.data()[i * 5 + k] == b.data()[k * n + i]);
}

TEST_CASE("exact_float_sums: power-of-two steps to 2^24, others by their mantissa",
          "[pow2][levels][integer]") {
  ThresholdLayer t;
  t.step_x = 0.125f;
  t.step_w = 0.125f;
  t.bound = (1 << 24) - 1;
  CHECK(exact_float_sums(t));
  t.bound = 1 << 24;
  CHECK_FALSE(exact_float_sums(t));
  t.step_x = 0.375f;  // odd part 3
  t.bound = 5592405;  // 3 x 5592405 = 2^24 - 1
  CHECK(exact_float_sums(t));
  t.bound = 5592406;
  CHECK_FALSE(exact_float_sums(t));
  t.step_x = 0.1f;  // a trained factor: a 24-bit odd mantissa
  t.bound = 2;
  CHECK_FALSE(exact_float_sums(t));
}

TEST_CASE("threshold operation: its parameters, shapes and file form", "[levels][lbm][runtime]") {
  ThresholdMap m;
  m.channels = 2;
  m.levels = {-8, 0, 8};
  m.thresholds = {-3, 4, kAlways, kNever};
  CHECK(runtime::threshold_params_error(m.params()).empty());
  const ThresholdMap back = runtime::threshold_map(m.params());
  CHECK(back.params() == m.params());
  // Channels last and first alike.
  const std::vector<int32_t> acc{-4, -4, -3, 100, 4, -100};  // 3 positions x 2 channels (H, W, C)
  std::vector<int32_t> y(6);
  m.apply(acc.data(), nullptr, 3, true, y.data());
  CHECK(y == std::vector<int32_t>{-8, 0, 0, 0, 8, 0});
  const std::vector<int32_t> first{-4, -3, 4, -4, 100, -100};  // (C, H, W)
  m.apply(first.data(), nullptr, 3, false, y.data());
  CHECK(y == std::vector<int32_t>{-8, 0, 8, 0, 0, 0});

  auto error = [&](std::vector<int64_t> p) { return runtime::threshold_params_error(p); };
  std::vector<int64_t> p = m.params();
  p[1] = 1;
  CHECK(error(p) == "levels 1; expected 2..31");
  p = m.params();
  p.pop_back();
  CHECK(error(p) ==
        "9 parameters; expected 10 (3, 3 levels, 0 shortcut values, 2 rows of 2 "
        "thresholds)");
  p = m.params();
  p[4] = -8;  // levels -8, -8, 8
  CHECK(error(p) == "level 1 = -8; expected strictly ascending values in -2^31..2^31-1");
  p = m.params();
  p[6] = 5;  // thresholds 5, 4
  CHECK(error(p) == "threshold 1 of row 0 = 4; expected ascending values in -2^62..2^62");
  CHECK(runtime::threshold_shape_error(m.params(), {{2, 3, 3}}).empty());
  CHECK(runtime::threshold_shape_error(m.params(), {{3, 3, 3}}) ==
        "an accumulator of 3 channels for 2 channels of thresholds");
  CHECK(runtime::threshold_shape_error(m.params(), {{2}, {2}}) ==
        "2 inputs; expected 1 (the accumulator)");

  // A program with the operation is version 3, reads back equal, and its kind in a version 2 file
  // is refused in one line.
  runtime::Program program;
  program.info.input_dims = {2};
  program.info.num_classes = 2;
  program.num_values = 2;
  runtime::Op op;
  op.kind = runtime::OpKind::kThresholds;
  op.inputs = {0};
  op.output = 1;
  op.params = m.params();
  program.ops.push_back(op);
  CHECK(runtime::lbm_version_for(program) == 3);
  const std::string bytes = runtime::encode_program(program);
  const runtime::Program read = runtime::decode_program(bytes, "t.lbm");
  CHECK(read.ops.at(0).params == m.params());
  std::string old = bytes;
  old[8] = 2;
  CHECK_THROWS_WITH(runtime::decode_program(old, "t.lbm"),
                    Catch::Contains("thresholds) in a version 2 file; expected version 3"));
}

TEST_CASE("wide product: int64 sums of the fixed-point input, thresholds, refusals",
          "[levels][lbm][runtime]") {
  // A 1x1 convolution of 2 channels to 1 on a 1x2 image: acc = 3 x0 - 2 x1, levels at acc >= 0.
  runtime::WideProduct p;
  p.in_channels = 2;
  p.out_channels = 1;
  p.weights = {3, -2};
  p.thresholds.channels = 1;
  p.thresholds.levels = {0, 8};
  p.thresholds.thresholds = {0};
  const std::vector<int64_t> params = p.params();
  CHECK(runtime::wide_product_params_error(params).empty());
  const runtime::WideProduct back = runtime::wide_product(params);
  // Values near INT32_MAX: the sum needs 64 bits (3 x 2^31 overflows int32).
  const std::vector<int32_t> first{INT32_MAX, 1, INT32_MAX, INT32_MAX};  // (C, H, W): x0 | x1
  std::vector<int32_t> y(2);
  back.run(first.data(), 1, 2, false, y.data());
  CHECK(y == std::vector<int32_t>{8, 0});  // 3 (2^31 - 1) - 2 (2^31 - 1) >= 0; 3 - 2 (2^31 - 1) < 0
  const std::vector<int32_t> last{INT32_MAX, INT32_MAX, 1, INT32_MAX};  // (H, W, C)
  back.run(last.data(), 1, 2, true, y.data());
  CHECK(y == std::vector<int32_t>{8, 0});
  std::string error;
  CHECK(runtime::wide_product_shape(back, {2, 1, 2}, error) == std::vector<int64_t>{1, 1, 2});
  CHECK(error.empty());
  runtime::wide_product_shape(back, {3, 1, 2}, error);
  CHECK(error == "a 1x1 convolution of 2 channels padded by 0 on a value of 3 dimensions");
  std::vector<int64_t> bad = params;
  bad[8] = int64_t{1} << 23;
  CHECK(runtime::wide_product_params_error(bad) ==
        "weight 0 = 8388608; expected -8388607..8388607 (2 products in int64)");
  bad = params;
  bad.resize(9);
  CHECK(runtime::wide_product_params_error(bad) ==
        "1 x 2 weights; more than the 1 parameters after the sizes");
}

TEST_CASE("activation_float_thresholds: the first float of each level", "[pow2][levels][integer]") {
  // 3 bits at 1/8: a value goes up a level when |x| > 1/16 or > 3/16, and one on a threshold stays
  // below it, so -3/16 and -1/16 are the first floats of their levels, and the positive side starts
  // just above 1/16 and 3/16.
  Pow2Activation act(three_bit());
  CHECK(activation_float_thresholds(act, 22) == std::vector<float>{-0.1875f, -0.0625f,
                                                                   std::nextafter(0.0625f, 1.0f),
                                                                   std::nextafter(0.1875f, 1.0f)});
  // Unsigned: its first level above 0 starts just above 1/16 as well.
  Pow2Activation unsigned_act({3, 0.125f, false});
  const std::vector<float> t = activation_float_thresholds(unsigned_act, 22);
  REQUIRE(t.size() >= 2);
  CHECK(t[0] == std::nextafter(0.0625f, 1.0f));
}
