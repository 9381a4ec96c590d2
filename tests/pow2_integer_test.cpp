// The numbers of a power-of-two network's integer form (models/transforms/pow2_integer.h): level
// maps with exact thresholds and levels that agree with the float quantizer on every fixed-point
// value near its thresholds, input codes, grid and float weight codes, BN as scale and shift.
#include "models/transforms/pow2_integer.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/check.h"
#include "models/transforms/integer_model.h"

using namespace lowbit;

TEST_CASE("the power-of-two activation as a level map: exact thresholds and levels",
          "[integer][pow2]") {
  const Pow2Activation act({3, 0.125f, true});
  const runtime::LevelMap m = pow2_level_map(act, 22);
  CHECK(m.is_signed);
  CHECK(m.thresholds == std::vector<int32_t>{262144, 786432});  // 1/16, 3/16
  CHECK(m.levels == std::vector<int32_t>{524288, 1048576});     // 1/8, 1/4
  const Pow2Activation four({4, 0.25f, false});
  const runtime::LevelMap u = pow2_level_map(four, 22);
  CHECK_FALSE(u.is_signed);
  // Levels 1/4, 1/2, 1; thresholds 1/8, 3/8, 3/4.
  CHECK(u.thresholds == std::vector<int32_t>{524288, 1572864, 3145728});
  CHECK(u.levels == std::vector<int32_t>{1048576, 2097152, 4194304});
  const ValueRange r = pow2_activation_range(four, 22);
  CHECK(r.levels.size() == 4);  // 0, 1/4, 1/2, 1: unsigned
  CHECK(r.levels[3].fixed == 4194304);
  CHECK(r.levels[3].value == 1.0f);
  CHECK(r.step == 0.25);
  CHECK(r.low == 0);
  CHECK(r.high == 4);
  CHECK(r.bound == 1.0);
}

TEST_CASE("the level map is the float quantizer on every fixed-point value near its thresholds",
          "[integer][pow2]") {
  for (const Pow2ActivationSpec& spec :
       {Pow2ActivationSpec{3, 0.125f, true}, Pow2ActivationSpec{4, 0.125f, false},
        Pow2ActivationSpec{5, 0.0625f, true}}) {
    const Pow2Activation act(spec);
    const runtime::LevelMap m = pow2_level_map(act, 22);
    for (float t : pow2_activation_thresholds(spec))
      for (int sign : {-1, 1})
        for (int64_t d = -300; d <= 300; ++d) {
          const auto v = static_cast<int32_t>(sign * (std::ldexp(double(t), 22) + d));
          const float x = static_cast<float>(std::ldexp(double(v), -22));  // exact in float
          INFO("x = " << x);
          CHECK(m.apply(v) == std::ldexp(double(pow2_activation_value(x, spec)), 22));
        }
  }
}

TEST_CASE("input codes: the levels' own, or int16 at a power-of-two step", "[integer][pow2]") {
  const InputCodes levels = input_codes(ValueRange{0.5, 0.125, -4, 4}, 22);
  CHECK(levels.step == 0.125);
  CHECK(levels.low == -4);
  CHECK(levels.high == 4);
  CHECK(levels.to_codes.apply(4 << 19) == 4);  // 0.5 in fixed point is code 4
  const InputCodes image = input_codes(ValueRange{2.82}, 22);
  CHECK(image.step == std::ldexp(1.0, -13));  // 2.82 * 2^13 = 23101 <= 32767 < 2.82 * 2^14
  CHECK(image.low == -32767);
  CHECK(image.high == 32767);
  CHECK(image.to_codes.apply(3 << 9) == 3);  // 3 * 2^-13 in fixed point
}

TEST_CASE("grid weights become exact codes, float weights per-channel codes", "[integer][pow2]") {
  Tensor w = Tensor::from_vector({2, 3}, {0.5f, -0.125f, 0.0f, 1.0f, -1.0f, 0.25f});
  const WeightCodes grid = pow2_weight_codes("fc", w, 2, -3);
  CHECK(grid.codes == std::vector<int16_t>{4, -1, 0, 8, -8, 2});
  CHECK(grid.steps == std::vector<double>{0.125, 0.125});
  w.data()[2] = 0.375f;
  CHECK_THROWS_WITH(pow2_weight_codes("fc", w, 2, -3),
                    "integer inference: fc weight 2 = 0.375 is not on the power-of-two grid {0, "
                    "+-2^e : e = -3..0}");
  w.data()[2] = 0.0625f;
  CHECK_THROWS_WITH(pow2_weight_codes("fc", w, 2, -3), Catch::Contains("weight 2 = 0.0625"));
  // Depth 3 of input codes up to 32767: 2^31 / (3 * 32767) = 21845 leaves 15 bits of magnitude.
  const WeightCodes f = float_weight_codes("conv1", w, 2, 32767);
  CHECK(f.bits == 15);
  CHECK(f.steps[0] == Approx(0.5 / 16383));
  CHECK(f.codes[0] == 16383);
  CHECK(f.codes[1] == -4096);  // -0.125 / (0.5 / 16383) = -4095.75
  CHECK(f.codes[4] == -16383);
  // Depth 25 of codes up to 32767 (LeNet-5's first layer on images): 12 bits.
  Tensor wide = Tensor::full({1, 25}, 0.1f);
  CHECK(float_weight_codes("conv1", wide, 1, 32767).bits == 12);
  CHECK_THROWS_WITH(float_weight_codes("conv1", Tensor::full({1, 4000}, 0.1f), 1, 32767),
                    Catch::Contains("leave the int32 accumulator no room for 8"));
}

TEST_CASE("a BN after a layer is a per-channel scale and shift", "[integer][pow2]") {
  BatchNorm bn(2);
  bn.weight().data()[0] = 2.0f;
  bn.weight().data()[1] = -1.0f;
  bn.bias().data()[1] = 0.5f;
  bn.running_mean().data()[0] = 1.0f;
  bn.running_var().data()[0] = 4.0f - bn.eps();
  const ChannelAffine a = batch_norm_affine(&bn, 2);
  CHECK(a.scale[0] == Approx(1.0));
  CHECK(a.shift[0] == Approx(-1.0));
  CHECK(a.scale[1] == Approx(-1.0 / std::sqrt(1.0 + bn.eps())));
  CHECK(a.shift[1] == Approx(0.5));
  const ChannelAffine none = batch_norm_affine(nullptr, 3);
  CHECK(none.scale == std::vector<double>{1, 1, 1});
  CHECK_THROWS_WITH(batch_norm_affine(&bn, 3),
                    "integer inference: a BatchNorm of 2 channels "
                    "after a layer of 3");
}
