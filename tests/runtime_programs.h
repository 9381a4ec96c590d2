// Small integer programs (core/runtime/program.h) written by hand, for the packed-file tests
// (tests/lbm_format_test.cpp) and the packed-model fuzz target's seeds (tests/fuzz/make_seeds.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "core/runtime/program.h"

namespace lowbit::testing {

using runtime::FixedPointMultiplier;
using runtime::Op;
using runtime::OpKind;
using runtime::ProductOp;
using runtime::Program;

// A small program by hand: a 3x3 convolution of 2 channels to 3 with 3-bit weight codes, ReLU,
// global pooling, a linear layer to 4 classes.
inline Program tiny_program() {
  Program p;
  p.info.metadata = R"({"model":"tiny"})";
  p.info.input_dims = {2, 5, 5};
  p.info.num_classes = 4;
  p.info.class_names = {"a", "b", "c", "d"};
  p.info.mean = {0.5f, 0.25f};
  p.info.stddev = {0.2f, 0.3f};
  Op conv;
  conv.kind = OpKind::kProduct;
  conv.inputs = {0};
  conv.output = 1;
  ProductOp& c = conv.product;
  c.in_channels = 2;
  c.out_channels = 3;
  c.kernel_h = c.kernel_w = 3;
  c.padding = 1;
  c.to_codes = FixedPointMultiplier::from_real(1.0 / (4194304.0 * 0.05));
  c.code_low = -7;
  c.code_high = 7;
  for (int i = 0; i < 3 * 18; ++i) c.weight_codes.push_back(static_cast<int16_t>(i % 7 - 3));
  c.bias = {100, -200, 300};
  for (int o = 0; o < 3; ++o) c.to_fixed.push_back(FixedPointMultiplier::from_real(0.01 * (o + 1)));
  Op relu;
  relu.kind = OpKind::kClamp;
  relu.inputs = {1};
  relu.output = 2;
  relu.params = {INT32_MAX};
  Op pool;
  pool.kind = OpKind::kGlobalAvgPool;
  pool.inputs = {2};
  pool.output = 3;
  Op fc;
  fc.kind = OpKind::kProduct;
  fc.inputs = {3};
  fc.output = 4;
  ProductOp& f = fc.product;
  f.is_linear = true;
  f.in_channels = 3;
  f.out_channels = 4;
  f.to_codes = FixedPointMultiplier::from_real(1e-6);
  f.code_low = 0;
  f.code_high = 255;
  for (int i = 0; i < 12; ++i) f.weight_codes.push_back(static_cast<int16_t>(i * 21 - 127));
  f.bias = {1, 2, 3, 4};
  f.to_fixed.assign(4, FixedPointMultiplier::from_real(0.5));
  p.ops = {conv, relu, pool, fc};
  p.num_values = 5;
  return p;
}

// One operation of every kind (a convolution, a depthwise one and a linear layer among them) on a
// (2, 4, 4) image, to 4 classes: the shapes fit, so the runtime's engine accepts it.
inline Program every_operation_program() {
  Program p;
  p.info.metadata = R"({"model":"every-operation"})";
  p.info.input_dims = {2, 4, 4};
  p.info.num_classes = 4;
  auto op = [&p](OpKind kind, std::vector<int32_t> inputs, std::vector<int64_t> params) {
    Op o;
    o.kind = kind;
    o.inputs = std::move(inputs);
    o.output = p.num_values++;
    o.params = std::move(params);
    p.ops.push_back(o);
    return o.output;
  };
  // A product of `in` to `out` channels, kernel k (1: linear when `linear`), small codes.
  auto product = [&](int32_t input, int64_t in, int64_t out, int64_t k, int64_t groups,
                     bool linear) {
    const int32_t v = op(OpKind::kProduct, {input}, {});
    ProductOp& c = p.ops.back().product;
    c.is_linear = linear;
    c.in_channels = in;
    c.out_channels = out;
    c.kernel_h = c.kernel_w = k;
    c.padding = k / 2;
    c.groups = groups;
    c.to_codes = FixedPointMultiplier::from_real(1.0 / (4194304.0 * 0.05));
    c.code_low = -7;
    c.code_high = 7;
    for (int64_t i = 0; i < out * c.depth(); ++i)
      c.weight_codes.push_back(static_cast<int16_t>(i % 5 - 2));
    c.bias.assign(static_cast<size_t>(out), 10);
    c.to_fixed.assign(static_cast<size_t>(out), FixedPointMultiplier::from_real(0.02));
    return v;
  };
  const int32_t conv = product(0, 2, 2, 3, 1, false);                 // (2, 4, 4)
  const int32_t depthwise = product(conv, 2, 2, 3, 2, false);         // (2, 4, 4)
  const int32_t relu = op(OpKind::kClamp, {depthwise}, {INT32_MAX});  // (2, 4, 4)
  const int32_t max = op(OpKind::kMaxPool, {relu}, {2, 2, 0});        // (2, 2, 2)
  const int32_t avg = op(OpKind::kAvgPool, {max}, {3, 1, 1});         // (2, 2, 2)
  const int32_t sum = op(OpKind::kAdd, {max, avg}, {});               // (2, 2, 2)
  const int32_t padded = op(OpKind::kPadChannels, {sum}, {4, 1});     // (4, 2, 2)
  const int32_t joined = op(OpKind::kConcat, {padded, sum}, {1});     // (6, 2, 2)
  const int32_t pooled = op(OpKind::kGlobalAvgPool, {joined}, {});    // (6)
  const int32_t wide = op(OpKind::kReshape, {joined}, {1, -1});       // (24)
  const int32_t flat = op(OpKind::kFlatten, {joined}, {});            // (24)
  const int32_t both = op(OpKind::kAdd, {wide, flat}, {});            // (24)
  const int32_t from_both = product(both, 24, 4, 1, 1, true);         // (4)
  const int32_t from_pooled = product(pooled, 6, 4, 1, 1, true);      // (4)
  op(OpKind::kAdd, {from_both, from_pooled}, {});                     // (4): the logits
  return p;
}

// tiny_program as a power-of-two network: weight codes 0, +-1, +-2, +-4, +-8 (grid weights at
// min_exp -3, 9 states: a weight table in the file), and the 3-bit activation's level operation
// (q2 = 1/8 in fixed point) in place of the ReLU; the linear layer reads int16 codes at 2^-16.
inline Program pow2_program() {
  Program p = tiny_program();
  p.info.metadata = R"({"model":"pow2"})";
  const int16_t grid[] = {0, 1, -1, 2, -2, 4, -4, 8, -8};
  ProductOp& c = p.ops[0].product;
  for (size_t i = 0; i < c.weight_codes.size(); ++i) c.weight_codes[i] = grid[(i * 5) % 9];
  c.to_fixed.assign(3, FixedPointMultiplier::from_real(0.05 * 0.125 * 4194304.0));
  p.ops[1].kind = OpKind::kLevels;
  p.ops[1].params = {1, 262144, 786432, 524288, 1048576};
  ProductOp& f = p.ops[3].product;
  f.to_codes = FixedPointMultiplier::from_real(1.0 / 64);
  f.code_low = -32767;
  f.code_high = 32767;
  for (size_t i = 0; i < f.weight_codes.size(); ++i) f.weight_codes[i] = grid[(i * 7) % 9];
  return p;
}

}  // namespace lowbit::testing
