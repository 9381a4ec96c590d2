// Model sizes (apps/ptq/ptq_size.h): bit packing by hand, the exact byte count of a packed model
// per scheme and granularity, and sane compression: packed below float, and the float copy of
// quantized weights compressing far better than the raw float weights.
#include "apps/ptq/ptq_size.h"

#include <catch2/catch.hpp>
#include <memory>

#include "core/check.h"
#include "core/rng.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/transforms/ptq_model.h"

using namespace lowbit;

namespace {

std::shared_ptr<Sequential> linear_net(int64_t in, int64_t out, uint64_t seed) {
  Rng rng(seed);
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Linear>(in, out, true, rng));
  for (const Parameter& p : net->parameters()) {
    for (int64_t i = 0; i < p.tensor.numel(); ++i) p.tensor.data()[i] = rng.normal(0.0f, 0.05f);
  }
  return net;
}

}  // namespace

TEST_CASE("codes are packed least significant bit first", "[ptq]") {
  std::vector<uint8_t> out;
  const std::vector<uint16_t> codes = {1, 2, 3, 0, 7};  // 15 bits: 1 | 2<<3 | 3<<6 | 7<<12 = 0x70d1
  pack_codes(codes.data(), 5, 3, out);
  CHECK(out == std::vector<uint8_t>{0xd1, 0x70});
  out.clear();
  const std::vector<uint16_t> wide = {0xabcd};
  pack_codes(wide.data(), 1, 16, out);
  CHECK(out == std::vector<uint8_t>{0xcd, 0xab});
  out.clear();
  const std::vector<uint16_t> two = {1, 0, 3, 2, 1};  // 10 bits at 2 bits a code: 0b01_10_11_00_01
  pack_codes(two.data(), 5, 2, out);
  CHECK(out == std::vector<uint8_t>{0xb1, 0x01});
  CHECK_THROWS_WITH(pack_codes(codes.data(), 5, 2, out),
                    Catch::Contains("code 7 at index 4") && Catch::Contains("2 bits"));
}

TEST_CASE("a packed model holds bits, grids and codes, and nothing else", "[ptq]") {
  auto net = linear_net(4, 2, 1);  // weight 8 values, bias 2: 40 bytes as float32
  const ModelSnapshot snapshot(*net);
  CHECK(float_model_bytes(*net).size() == 40);
  auto packed = [&](PtqScheme scheme, int bits, Granularity g) {
    const PtqModelResult q = ptq_quantize_model(*net, PtqSpec{scheme, bits, g}, PtqTargets{});
    const size_t n = packed_model_bytes(*net, q).size();
    snapshot.restore();
    return n;
  };
  // weight: 1 (bits) + grid + ceil(8 * 3 / 8) = 3 code bytes; bias: 1 + grid + ceil(2 * 3 / 8) = 1.
  CHECK(packed(PtqScheme::kSymmetric, 3, Granularity::kScalar) == (1 + 4 + 3) + (1 + 4 + 1));
  CHECK(packed(PtqScheme::kAsymmetric, 3, Granularity::kScalar) == (1 + 8 + 3) + (1 + 8 + 1));
  CHECK(packed(PtqScheme::kPow2, 3, Granularity::kScalar) == (1 + 2 + 3) + (1 + 2 + 1));
  CHECK(packed(PtqScheme::kSymmetric, 3, Granularity::kVector) == (1 + 2 * 4 + 3) + (1 + 4 + 1));
  CHECK(packed(PtqScheme::kSymmetric, 8, Granularity::kScalar) == (1 + 4 + 8) + (1 + 4 + 2));
  // Tensors left in float are stored as float32.
  PtqTargets no_bias;
  no_bias.biases = false;
  const PtqModelResult q =
      ptq_quantize_model(*net, PtqSpec{PtqScheme::kSymmetric, 3, Granularity::kScalar}, no_bias);
  CHECK(packed_model_bytes(*net, q).size() == (1 + 4 + 3) + 2 * 4);
  snapshot.restore();
}

TEST_CASE("compressed sizes are sane", "[ptq]") {
  auto net = linear_net(256, 128, 2);  // 32896 values
  const ModelSnapshot snapshot(*net);
  CompressionOptions o;
  const ModelSize raw = model_size(*net, nullptr, o);
  CHECK(raw.float_bytes == 4 * 32896);
  CHECK(raw.packed_bytes == raw.float_bytes);
  // Gaussian float32 barely compresses (random mantissas).
  CHECK(raw.float_gzip > raw.float_bytes * 8 / 10);
  CHECK(raw.float_xz > raw.float_bytes * 7 / 10);
  CHECK(raw.float_gzip < raw.float_bytes + 1000);

  const PtqModelResult q =
      ptq_quantize_model(*net, PtqSpec{PtqScheme::kSymmetric, 4, Granularity::kScalar}, {});
  const ModelSize s = model_size(*net, &q, o);
  CHECK(s.float_bytes == raw.float_bytes);
  CHECK(s.packed_bytes < s.float_bytes / 7);  // 4 of 32 bits, plus grids
  CHECK(s.packed_bytes >= 32896 / 2);
  // 15 distinct float32 values: the float copy compresses to a fraction of the raw weights'.
  CHECK(s.float_gzip * 3 < raw.float_gzip);
  CHECK(s.float_xz * 4 < raw.float_xz);
  // Packed codes are already dense: compression gains little, and never beats entropy (~3 bits).
  CHECK(s.packed_gzip <= s.packed_bytes + 100);
  CHECK(s.packed_xz > 32896 * 2 / 8);
  CHECK(s.packed_xz < s.float_xz);
  snapshot.restore();

  o.enabled = false;
  const ModelSize off = model_size(*net, nullptr, o);
  CHECK(off.float_gzip == -1);
  CHECK(off.packed_xz == -1);
  CHECK(gzip_size({}) > 0);  // a header and a trailer
  CHECK(xz_size(std::vector<uint8_t>(100000, 0)) < 1000);
  CHECK_THROWS_WITH(xz_size({1, 2, 3}, 10), Catch::Contains("preset 10"));
}
