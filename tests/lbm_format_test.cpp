// The packed model file (core/runtime/lbm_format.h): a program goes to bytes and back unchanged,
// its weight codes bit-packed at the width their range needs; damaged, truncated, foreign and
// nonsensical files are refused with one line naming the file and the field, never a crash.
#include "core/runtime/lbm_format.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/check.h"
#include "tests/runtime_programs.h"

using namespace lowbit;
using namespace lowbit::runtime;
using lowbit::testing::every_operation_program;
using lowbit::testing::pow2_program;
using lowbit::testing::tiny_program;
namespace fs = std::filesystem;

namespace {

std::string write_temp(const std::string& name, const std::string& bytes) {
  const fs::path path = fs::temp_directory_path() / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

// The body's checksum recomputed, so that a deliberately wrong field reaches the field checks.
std::string reencoded(const Program& p) { return encode_program(p); }

// Every cut of the file and every byte of it damaged is refused naming the file.
void check_every_cut_and_damage(const std::string& bytes) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO(n << " of " << bytes.size() << " bytes");
    CHECK_THROWS_WITH(decode_program(bytes.substr(0, n), "cut.lbm"),
                      Catch::StartsWith("cut.lbm: "));
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
    INFO("byte " << i);
    CHECK_THROWS_WITH(decode_program(damaged, "bad.lbm"), Catch::StartsWith("bad.lbm: "));
  }
}

// The message decode_program refuses p's bytes with (as file m.lbm), or "accepted".
std::string refused(const Program& p) {
  try {
    decode_program(reencoded(p), "m.lbm");
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::string("accepted");
}

}  // namespace

TEST_CASE("a program goes to bytes and back unchanged", "[lbm]") {
  const Program p = tiny_program();
  const std::string bytes = encode_program(p);
  const Program back = decode_program(bytes, "tiny.lbm");
  CHECK(encode_program(back) == bytes);
  CHECK(back.info.metadata == p.info.metadata);
  CHECK(back.info.input_dims == p.info.input_dims);
  CHECK(back.info.class_names == p.info.class_names);
  CHECK(back.info.mean == p.info.mean);
  CHECK(back.info.stddev == p.info.stddev);
  REQUIRE(back.ops.size() == 4);
  CHECK(back.ops[0].product.weight_codes == p.ops[0].product.weight_codes);
  CHECK(back.ops[3].product.weight_codes == p.ops[3].product.weight_codes);
  CHECK(back.ops[0].product.to_fixed[2].multiplier == p.ops[0].product.to_fixed[2].multiplier);
  CHECK(back.ops[0].product.bias == p.ops[0].product.bias);
  CHECK(back.ops[1].params == p.ops[1].params);
  CHECK(std::string(bytes, 0, 8) == "LOWBITRT");
}

TEST_CASE("weight codes take the bits their range needs", "[lbm]") {
  CHECK(bits_for_range(0) == 1);
  CHECK(bits_for_range(1) == 1);
  CHECK(bits_for_range(2) == 2);
  CHECK(bits_for_range(6) == 3);
  CHECK(bits_for_range(7) == 3);
  CHECK(bits_for_range(8) == 4);
  CHECK(bits_for_range(255) == 8);
  CHECK(bits_for_range(65535) == 16);
  Program p = tiny_program();
  const size_t base = encode_program(p).size();
  // 1000 more 3-bit codes (-3..3): 375 bytes more; at 8 bits they would be 1000.
  p.ops[0].product.out_channels = 3;
  p.ops[0].product.in_channels = 2;
  Program wide = p;
  for (Program* q : {&p, &wide}) {
    q->ops[0].product.kernel_h = q->ops[0].product.kernel_w = 1;
    q->ops[0].product.padding = 0;
    q->ops[0].product.weight_codes.assign(6, 0);
  }
  p.ops[0].product.weight_codes = {-3, 3, 0, 1, 2, -1};         // range 6: 3 bits, 6 codes, 3 bytes
  wide.ops[0].product.weight_codes = {-128, 127, 0, 1, 2, -1};  // range 255: 8 bits, 6 bytes
  const std::string narrow_bytes = encode_program(p), wide_bytes = encode_program(wide);
  CHECK(wide_bytes.size() - narrow_bytes.size() == 3);
  CHECK(base - narrow_bytes.size() == (3 * 18 * 3 + 7) / 8 - 3);
  CHECK(decode_program(narrow_bytes, "n.lbm").ops[0].product.weight_codes ==
        p.ops[0].product.weight_codes);
  CHECK(decode_program(wide_bytes, "w.lbm").ops[0].product.weight_codes ==
        wide.ops[0].product.weight_codes);
}

TEST_CASE("every truncation and every damaged byte of a packed file is refused by name", "[lbm]") {
  const std::string bytes = encode_program(tiny_program());
  check_every_cut_and_damage(bytes);
  CHECK_THROWS_WITH(decode_program(bytes.substr(0, 20), "x.lbm"),
                    "x.lbm: the file ends inside its 32-byte header (20 bytes; truncated?)");
  CHECK_THROWS_WITH(decode_program("LOWBITCK and more", "x.lbm"),
                    "x.lbm: not a lowbit packed model (magic number LOWBITRT missing)");
  std::string damaged = bytes;
  damaged[bytes.size() - 1] ^= 1;
  CHECK_THROWS_WITH(decode_program(damaged, "x.lbm"),
                    "x.lbm: checksum mismatch (the file is damaged)");
  std::string newer = bytes;
  newer[8] = 5;
  CHECK_THROWS_WITH(decode_program(newer, "x.lbm"),
                    "x.lbm: version: 5; this runtime reads versions 1..4");
  CHECK_THROWS_WITH(decode_program(bytes + "xyz", "x.lbm"),
                    Catch::Contains("body size: ") && Catch::Contains("(truncated or extended?)"));
}

TEST_CASE("a well-formed file of nonsense values is refused naming the field", "[lbm]") {
  Program p = tiny_program();
  p.ops[1].inputs = {3};
  CHECK(refused(p) == "m.lbm: operation 1.input: value 3 is used before an operation makes it");
  p = tiny_program();
  p.ops[2].output = 2;
  CHECK(refused(p) == "m.lbm: operation 2.output: value 2 is made twice");
  p = tiny_program();
  p.ops[0].product.groups = 4;
  CHECK(refused(p) ==
        "m.lbm: operation 0.groups: 4 groups do not divide 2 input and 3 output "
        "channels");
  p = tiny_program();
  p.ops[0].product.weight_codes.pop_back();
  CHECK(refused(p) == "m.lbm: operation 0.weight_count: 53 weights; expected 54 (3 x 18)");
  p = tiny_program();
  p.ops[3].product.to_fixed[1].shift = 1;
  CHECK(refused(p) == "m.lbm: operation 3.to_fixed: multiplier " +
                          std::to_string(p.ops[3].product.to_fixed[1].multiplier) +
                          " with shift 1; expected 0, or 2^30..2^31-1 with a shift of 2..63");
  p = tiny_program();
  p.ops[1].kind = static_cast<OpKind>(42);
  CHECK(refused(p) == "m.lbm: operation 1.kind: 42 is no operation; expected 1..14");
  p = tiny_program();
  p.ops[0].product.kernel_h = 0;
  CHECK(refused(p) == "m.lbm: operation 0.kernel_h: 0 is out of range; expected 1..255");
  p = tiny_program();
  p.info.stddev[1] = -1.0f;
  CHECK(refused(p) == "m.lbm: stddev: -1; expected > 0");
  p = tiny_program();
  p.info.class_names.pop_back();
  CHECK(refused(p) == "m.lbm: class names: 3 names for 4 classes");
  p = tiny_program();
  p.ops[3].product.code_high = 30000;
  p.ops[3].product.weight_codes.assign(12, 30000);
  CHECK(refused(p).find("could overflow the int32 accumulator") != std::string::npos);
}

TEST_CASE("read_program_file refuses what is not a packed model file", "[lbm]") {
  const std::string good = write_temp("lowbit_lbm_good.lbm", encode_program(tiny_program()));
  CHECK(read_program_file(good).ops.size() == 4);
  CHECK_THROWS_WITH(
      read_program_file(fs::temp_directory_path().string()),
      fs::temp_directory_path().string() + ": not a regular file; expected a packed model (.lbm)");
  CHECK_THROWS_WITH(read_program_file("/nonexistent/model.lbm"),
                    "/nonexistent/model.lbm: cannot open packed model (missing or unreadable)");
  const std::string shorter = write_temp("lowbit_lbm_short.lbm", "LOWBITRT\x01");
  CHECK_THROWS_WITH(read_program_file(shorter),
                    Catch::Contains("the file ends inside its 32-byte header"));
  // A header that declares a body far larger than the file: refused before anything is read.
  std::string big = encode_program(tiny_program()).substr(0, 32);
  big[16 + 4] = 0x7f;
  const std::string liar = write_temp("lowbit_lbm_liar.lbm", big);
  CHECK_THROWS_WITH(read_program_file(liar), Catch::Contains("(truncated or extended?)"));
  fs::remove(good);
  fs::remove(shorter);
  fs::remove(liar);
}

TEST_CASE("version 2: level operations and power-of-two codes in 4 bits through a table", "[lbm]") {
  const Program p = pow2_program();
  const std::string bytes = encode_program(p);
  CHECK(lbm_version_for(p) == 2);
  CHECK(bytes[8] == 2);
  const Program back = decode_program(bytes, "pow2.lbm");
  CHECK(encode_program(back) == bytes);
  CHECK(back.ops[1].kind == OpKind::kLevels);
  CHECK(back.ops[1].params == p.ops[1].params);
  CHECK(back.ops[0].product.weight_codes == p.ops[0].product.weight_codes);
  CHECK(back.ops[3].product.weight_codes == p.ops[3].product.weight_codes);
  // 54 codes: a table of 9 entries (36 bytes) and 4-bit indices would take more than the codes at
  // the 5 bits of -8..8; 540 codes: a table (36 + 270 bytes) beats 338 bytes, and is used.
  Program ranged = p;
  ranged.ops[1].kind = OpKind::kClamp;  // no level operation
  ranged.ops[1].params = {INT32_MAX};
  CHECK(lbm_version_for(ranged) == 1);
  ProductOp& conv = ranged.ops[0].product;
  conv.out_channels = 30;
  const std::vector<int16_t> codes = conv.weight_codes;
  for (int k = 0; k < 9; ++k)
    conv.weight_codes.insert(conv.weight_codes.end(), codes.begin(), codes.end());
  conv.bias.assign(30, 0);
  conv.to_fixed.assign(30, conv.to_fixed[0]);
  CHECK(lbm_version_for(ranged) == 2);  // the table alone asks for version 2
  const std::string with_table = encode_program(ranged);
  CHECK(decode_program(with_table, "t.lbm").ops[0].product.weight_codes == conv.weight_codes);
  // A program of neither is version 1, as older runtimes read it, and loads unchanged.
  const Program plain = every_operation_program();
  CHECK(lbm_version_for(plain) == 1);
  const std::string v1 = encode_program(plain);
  CHECK(v1[8] == 1);
  CHECK(encode_program(decode_program(v1, "v1.lbm")) == v1);
  check_every_cut_and_damage(bytes);  // a version 2 file
}

TEST_CASE("malformed level operations and tables are refused naming the field", "[lbm]") {
  Program p = pow2_program();
  p.ops[1].params = {1, 786432, 262144, 524288, 1048576};
  CHECK(refused(p) ==
        "m.lbm: operation 1.params: threshold 1 = 262144; expected strictly ascending values in "
        "0..2^31-1");
  p = pow2_program();
  p.ops[1].params = {1, 262144, 786432, 524288};
  CHECK(refused(p) ==
        "m.lbm: operation 1.params: 4 parameters; expected the sign flag, then "
        "1..15 thresholds and as many levels");
  // A level operation in a file that says version 1.
  p = pow2_program();
  std::string bytes = encode_program(p);
  bytes[8] = 1;
  CHECK_THROWS_WITH(decode_program(bytes, "old.lbm"), Catch::StartsWith("old.lbm: "));
}
