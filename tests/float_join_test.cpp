// The float join (core/runtime/float_join.h): the simulation's float32 BN and sum of two
// accumulators with two roundings each (never a fused multiply-add), the level off float
// thresholds; its parameters, refusals and file form (version 4), and the engine running it.
#include "core/runtime/float_join.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"

using namespace lowbit;

namespace {

// One channel: levels -8, 0, 8 from v >= -0.5 and v >= 0.5; acc units 2^-3 2^-2 = 1/32 (the
// branch) and 2^-2 2^-1 (the shortcut).
runtime::FloatJoin example() {
  runtime::FloatJoin j;
  j.channels = 1;
  j.levels = {-8, 0, 8};
  j.thresholds = {-0.5f, 0.5f};
  j.step_x[0] = 0.125f;
  j.step_w[0] = 0.25f;
  j.step_x[1] = 0.25f;
  j.step_w[1] = 0.5f;
  j.scale[0] = {0.3f};
  j.shift[0] = {0.1f};
  j.scale[1] = {-0.7f};
  j.shift[1] = {0.05f};
  return j;
}

// The simulation's arithmetic, each operation rounded to float (volatile stores force it).
float simulated(int32_t a, int32_t b, const runtime::FloatJoin& j) {
  volatile float x0 = static_cast<float>(a / 32.0), x1 = static_cast<float>(b / 8.0);
  volatile float p0 = x0 * j.scale[0][0], p1 = x1 * j.scale[1][0];
  volatile float y0 = p0 + j.shift[0][0], y1 = p1 + j.shift[1][0];
  return y0 + y1;
}

}  // namespace

TEST_CASE("float join: the simulation's two roundings per BN, the level off float thresholds",
          "[runtime][lbm]") {
  runtime::FloatJoin j = example();
  // Accumulators whose v lands exactly on a threshold by two roundings, where a fused
  // multiply-add lands off it (so a contracted build would pick another level), found by search.
  int found = 0;
  for (int32_t a = -2000; a <= 2000 && found < 3; ++a) {
    const float x0 = static_cast<float>(a / 32.0);
    volatile float p0 = x0 * j.scale[0][0];
    const float two = p0 + j.shift[0][0], fused = std::fma(x0, j.scale[0][0], j.shift[0][0]);
    if (two == fused) continue;
    // A threshold between the two answers (v = y0 + y1 with the shortcut at 0: y1 = 0.05).
    runtime::FloatJoin k = j;
    const float v = simulated(a, 0, j), v_fused = fused + j.shift[1][0];
    if (v == v_fused) continue;
    k.thresholds = {-1e30f, std::max(v, v_fused)};
    const int32_t acc[1] = {a}, zero[1] = {0};
    int32_t y[1] = {0};
    k.apply(acc, zero, 1, true, y);
    CHECK(y[0] == (v >= k.thresholds[1] ? 8 : 0));
    ++found;
  }
  CHECK(found > 0);  // the search can fail: then this test shows nothing
  // Every level on a grid of accumulators, channels first and last alike.
  std::vector<int32_t> a, b;
  for (int32_t x = -40; x <= 40; x += 3)
    for (int32_t s = -6; s <= 6; ++s) {
      a.push_back(x);
      b.push_back(s);
    }
  std::vector<int32_t> y(a.size());
  j.apply(a.data(), b.data(), static_cast<int64_t>(a.size()), false, y.data());
  int levels[3] = {0, 0, 0};
  for (size_t i = 0; i < a.size(); ++i) {
    const float v = simulated(a[i], b[i], j);
    CHECK(y[i] == (v >= 0.5f ? 8 : v >= -0.5f ? 0 : -8));
    ++levels[(y[i] + 8) / 8];
  }
  CHECK(levels[0] > 0);
  CHECK(levels[1] > 0);
  CHECK(levels[2] > 0);
}

TEST_CASE("float join: parameters and refusals", "[runtime][lbm]") {
  const runtime::FloatJoin j = example();
  const std::vector<int64_t> params = j.params();
  CHECK(params.size() == 2 + 3 + 2 + 2 * (2 + 2));
  CHECK(runtime::float_join_params_error(params).empty());
  const runtime::FloatJoin back = runtime::float_join(params);
  CHECK(back.params() == params);
  auto error_with = [&](size_t at, int64_t value) {
    std::vector<int64_t> bad = params;
    bad[at] = value;
    return runtime::float_join_params_error(bad);
  };
  CHECK(error_with(0, 0) == "channels 0; expected 1..2^24");
  CHECK(error_with(1, 1) == "levels 1; expected 2..31");
  CHECK(error_with(3, -8) == "level 1 = -8; expected strictly ascending values in -2^31..2^31-1");
  CHECK(error_with(5, 0x7fc00000) ==
        "threshold 0 (float bits 2143289344); expected ascending floats");
  CHECK(error_with(7, 0) == "step_x of input 0 (float bits 0); expected a finite positive float");
  CHECK(error_with(10, 0x7f800000) ==
        "shift 0 of input 0 (float bits 2139095040); expected a finite float");
  std::vector<int64_t> short_params(params.begin(), params.end() - 1);
  CHECK(
      runtime::float_join_params_error(short_params) ==
      "14 parameters; expected 15 (2, 3 levels, 2 thresholds, 2 x (2 steps, 1 scales, 1 shifts))");
  CHECK(runtime::float_join_shape_error(params, {{1, 2, 2}, {1, 2, 2}}).empty());
  CHECK(runtime::float_join_shape_error(params, {{1, 2, 2}}) ==
        "1 inputs; expected 2 (the branch's and the shortcut's accumulators)");
  CHECK(runtime::float_join_shape_error(params, {{2, 2, 2}, {2, 2, 2}}) ==
        "an accumulator of 2 channels for 1 channels");
  CHECK(runtime::float_join_shape_error(params, {{1, 2, 2}, {1, 1, 2}}) ==
        "a shortcut accumulator of another shape");
}

TEST_CASE("float join: a version 4 file, and the engine runs it", "[runtime][lbm]") {
  // The input's fixed-point codes (x 2^22) as both accumulators, on 1 channel of 1x2.
  runtime::FloatJoin j = example();
  j.step_x[0] = j.step_x[1] = 1.0f / 1024;
  j.step_w[0] = j.step_w[1] = 1.0f / 4096;  // a unit of 2^-22: x itself
  runtime::Program program;
  program.info.input_dims = {1, 1, 2};
  program.info.num_classes = 2;
  program.num_values = 2;
  runtime::Op op;
  op.kind = runtime::OpKind::kFloatJoin;
  op.inputs = {0, 0};
  op.output = 1;
  op.params = j.params();
  program.ops.push_back(op);
  CHECK(runtime::lbm_version_for(program) == 4);
  const std::string bytes = runtime::encode_program(program);
  CHECK(bytes[8] == 4);
  const runtime::Program back = runtime::decode_program(bytes, "join.lbm");
  REQUIRE(back.ops.size() == 1);
  CHECK(back.ops[0].params == op.params);
  // v = 0.3 x + 0.1 - 0.7 x + 0.05 = 0.15 - 0.4 x: x = -1 gives 0.55 (level 8), x = 2 gives -0.65.
  runtime::Engine engine(back);
  const float images[2] = {-1.0f, 2.0f};
  float logits[2] = {0, 0};
  engine.run(images, 1, logits, 1);
  CHECK(logits[0] == 8.0f / (1 << 22));
  CHECK(logits[1] == -8.0f / (1 << 22));
  // The same operation in a version 3 file is refused.
  std::string old = bytes;
  old[8] = 3;
  CHECK_THROWS_WITH(runtime::decode_program(old, "old.lbm"),
                    Catch::Contains("14 (float join) in a version 3 file; expected version 4"));
}
