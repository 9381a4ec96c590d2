// Checkpoints: round trip, atomic replacement, and a clear error for every kind of damage and
// every hostile file (not regular, sizes the file cannot hold, names with control bytes).
#include "core/checkpoint.h"

#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "tests/not_regular_files.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("lowbit_checkpoint_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

Checkpoint sample() {
  Checkpoint c;
  c.config = R"({"model": "lenet5"})";
  c.tensors.push_back({"conv.weight", Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6})});
  c.tensors.push_back({"step", Tensor::scalar(7)});
  c.blobs.push_back({"rng", {1, 2, 3, 250}});
  return c;
}

std::vector<char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("a checkpoint round-trips tensors, blobs and configuration", "[checkpoint]") {
  const fs::path path = temp_dir() / "roundtrip.ckpt";
  save_checkpoint(path.string(), sample());
  CHECK_FALSE(fs::exists(path.string() + ".tmp"));
  const Checkpoint c = load_checkpoint(path.string());
  CHECK(c.config == sample().config);
  CHECK(c.tensor("conv.weight").shape() == Shape({2, 3}));
  CHECK(c.tensor("conv.weight").to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(c.tensor("step").item() == 7);
  CHECK(c.blob("rng").bytes == std::vector<uint8_t>{1, 2, 3, 250});
  CHECK_THROWS_WITH(c.tensor("missing"), Catch::Contains("missing"));
}

TEST_CASE("damaged checkpoints give one clear error each", "[checkpoint]") {
  const fs::path dir = temp_dir();
  const fs::path good = dir / "good.ckpt";
  save_checkpoint(good.string(), sample());
  const std::vector<char> bytes = read_all(good);

  CHECK_THROWS_WITH(load_checkpoint((dir / "absent.ckpt").string()),
                    Catch::Contains("absent.ckpt"));

  std::vector<char> wrong_magic = bytes;
  wrong_magic[0] = 'X';
  write_all(dir / "magic.ckpt", wrong_magic);
  CHECK_THROWS_WITH(load_checkpoint((dir / "magic.ckpt").string()), Catch::Contains("magic"));

  write_all(dir / "short.ckpt",
            std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)));
  CHECK_THROWS_AS(load_checkpoint((dir / "short.ckpt").string()), Error);

  std::vector<char> flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write_all(dir / "flipped.ckpt", flipped);
  CHECK_THROWS_WITH(load_checkpoint((dir / "flipped.ckpt").string()), Catch::Contains("checksum"));
}

TEST_CASE("saving over an existing checkpoint replaces it whole", "[checkpoint]") {
  const fs::path path = temp_dir() / "replace.ckpt";
  save_checkpoint(path.string(), sample());
  Checkpoint next = sample();
  next.config = "{}";
  save_checkpoint(path.string(), next);
  CHECK(load_checkpoint(path.string()).config == "{}");
}

TEST_CASE("an unwritable location is an error, not a crash", "[checkpoint]") {
  CHECK_THROWS_WITH(save_checkpoint("/nonexistent-dir/x.ckpt", sample()),
                    Catch::Contains("/nonexistent-dir/x.ckpt"));
}

namespace {

// A checkpoint's bytes written field by field, with a valid CRC, so that each field can be given
// a value save_checkpoint would never write: the reader must refuse it without trusting the
// checksum (anyone can compute one).
class RawCheckpoint {
 public:
  RawCheckpoint& bytes(const void* p, size_t n) {
    const auto* b = static_cast<const char*>(p);
    data_.insert(data_.end(), b, b + n);
    return *this;
  }
  template <class T>
  RawCheckpoint& pod(T v) {
    return bytes(&v, sizeof v);
  }
  RawCheckpoint& str(const std::string& s) {
    pod<uint64_t>(s.size());
    return bytes(s.data(), s.size());
  }
  RawCheckpoint& header(const std::string& config = "{}") {
    bytes("LOWBITCK", 8);
    pod<uint32_t>(kCheckpointVersion);
    return str(config);
  }
  std::vector<char> with_crc() const {
    std::vector<char> out = data_;
    const uint32_t crc = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                                     reinterpret_cast<const Bytef*>(out.data()),
                                                     static_cast<uInt>(out.size())));
    const auto* b = reinterpret_cast<const char*>(&crc);
    out.insert(out.end(), b, b + 4);
    return out;
  }

 private:
  std::vector<char> data_;
};

std::string written(const std::string& name, const std::vector<char>& bytes) {
  const fs::path path = temp_dir() / name;
  write_all(path, bytes);
  return path.string();
}

}  // namespace

TEST_CASE("a checkpoint that is not a regular file is refused by name, without being read",
          "[checkpoint]") {
  // /dev/zero was read to the address-space limit; a directory gave "basic_filebuf::underflow".
  const fs::path path = temp_dir() / "not_regular.ckpt";
  testing::check_refuses_what_is_not_a_regular_file(path, [&] { load_checkpoint(path.string()); });
  fs::create_directories(path);
  CHECK_THROWS_WITH(
      load_checkpoint(path.string()),
      path.string() + ": is a directory, not a regular file (expected a lowbit checkpoint)");
  fs::remove(path);
}

TEST_CASE("the magic number is checked before the body is read, and a short file is truncated",
          "[checkpoint]") {
  // A 2 GB sparse file: refused at its first bytes, not read whole (that took 15 s and 2.1 GB).
  const fs::path sparse = temp_dir() / "sparse.ckpt";
  { std::ofstream(sparse, std::ios::binary) << "not a checkpoint"; }
  fs::resize_file(sparse, uint64_t{2} << 30);
  CHECK_THROWS_WITH(load_checkpoint(sparse.string()),
                    Catch::Contains("sparse.ckpt: not a lowbit checkpoint (magic number LOWBITCK "
                                    "missing)"));
  fs::remove(sparse);

  // The magic number is there: the file is short, not foreign.
  for (const std::string& bytes : {std::string("LOWBITCK\1\0\0\0", 12), std::string("LOWB")}) {
    const std::string path = written("short.ckpt", std::vector<char>(bytes.begin(), bytes.end()));
    CHECK_THROWS_WITH(load_checkpoint(path),
                      Catch::Contains("short.ckpt: truncated: " + std::to_string(bytes.size()) +
                                      " bytes, a lowbit checkpoint has at least 40") &&
                          !Catch::Contains("magic"));
  }
  CHECK_THROWS_WITH(load_checkpoint(written("empty.ckpt", {})),
                    Catch::Contains("empty.ckpt: empty file"));
}

TEST_CASE("no size a checkpoint declares is allocated before the file is known to hold it",
          "[checkpoint]") {
  auto refused = [](const std::string& name, const RawCheckpoint& raw) {
    return load_checkpoint(written(name, raw.with_crc()));
  };
  // A header promising 10^9 floats in a file of a few bytes.
  CHECK_THROWS_WITH(
      refused("huge_tensor.ckpt", RawCheckpoint()
                                      .header()
                                      .pod<uint64_t>(1)
                                      .str("conv.weight")
                                      .pod<uint32_t>(1)
                                      .pod<uint64_t>(1000000000)
                                      .pod<uint64_t>(0)),
      Catch::Contains("huge_tensor.ckpt: tensor 'conv.weight' of shape (1000000000) needs more "
                      "bytes than the 8 left in the file"));
  // A size that is negative as a signed number reads as the unsigned number it is.
  CHECK_THROWS_WITH(refused("negative.ckpt", RawCheckpoint()
                                                 .header()
                                                 .pod<uint64_t>(1)
                                                 .str("conv1.weight")
                                                 .pod<uint32_t>(4)
                                                 .pod<int64_t>(-1)
                                                 .pod<int64_t>(1)
                                                 .pod<int64_t>(5)
                                                 .pod<int64_t>(5)
                                                 .pod<uint64_t>(0)),
                    Catch::Contains("negative.ckpt: tensor 'conv1.weight' of shape "
                                    "(18446744073709551615, 1, 5, 5) needs more bytes") &&
                        !Catch::Contains("-1"));
  // Dimensions whose product overflows 64 bits.
  CHECK_THROWS_WITH(refused("overflow.ckpt", RawCheckpoint()
                                                 .header()
                                                 .pod<uint64_t>(1)
                                                 .str("w")
                                                 .pod<uint32_t>(2)
                                                 .pod<uint64_t>(uint64_t{1} << 40)
                                                 .pod<uint64_t>(uint64_t{1} << 40)
                                                 .pod<uint64_t>(0)),
                    Catch::Contains("tensor 'w' of shape (1099511627776, 1099511627776) needs"));
  CHECK_THROWS_WITH(
      refused("many_tensors.ckpt",
              RawCheckpoint().header().pod<uint64_t>(1000000000).pod<uint64_t>(0)),
      Catch::Contains("many_tensors.ckpt: declares 1000000000 tensors, more than the 8 bytes"));
  CHECK_THROWS_WITH(
      refused("many_entries.ckpt",
              RawCheckpoint().header().pod<uint64_t>(0).pod<uint64_t>(1000000000)),
      Catch::Contains("many_entries.ckpt: declares 1000000000 entries, more than the 0 bytes"));
  CHECK_THROWS_WITH(
      refused("huge_blob.ckpt",
              RawCheckpoint().header().pod<uint64_t>(0).pod<uint64_t>(1).str("rng").pod<uint64_t>(
                  uint64_t{1} << 50)),
      Catch::Contains("huge_blob.ckpt: entry 'rng' of 1125899906842624 bytes is "
                      "truncated: 0 bytes are left"));
  CHECK_THROWS_WITH(
      refused("huge_config.ckpt", RawCheckpoint()
                                      .bytes("LOWBITCK", 8)
                                      .pod<uint32_t>(1)
                                      .pod<uint64_t>(1000000000000)
                                      .pod<uint64_t>(0)
                                      .pod<uint64_t>(0)),
      Catch::Contains("huge_config.ckpt: truncated: the configuration of 1000000000000 bytes"));
  CHECK_THROWS_WITH(
      refused("rank.ckpt",
              RawCheckpoint().header().pod<uint64_t>(1).str("w").pod<uint32_t>(9).pod<uint64_t>(0)),
      Catch::Contains("rank.ckpt: tensor 'w' has rank 9, expected at most 8"));
}

TEST_CASE("names read from a checkpoint are printed whole, control bytes escaped", "[checkpoint]") {
  // The NUL once cut the message to "...ckpt: tensor '".
  const std::string nul_name("conv\0weight", 11);
  CHECK_THROWS_WITH(
      load_checkpoint(written("nul.ckpt", RawCheckpoint()
                                              .header()
                                              .pod<uint64_t>(1)
                                              .str(nul_name)
                                              .pod<uint32_t>(12)
                                              .pod<uint64_t>(0)
                                              .with_crc())),
      Catch::EndsWith("nul.ckpt: tensor 'conv\\x00weight' has rank 12, expected at most 8"));
  // A name of 100000 bytes is cut, the message stays short.
  try {
    load_checkpoint(written("long.ckpt", RawCheckpoint()
                                             .header()
                                             .pod<uint64_t>(1)
                                             .str(std::string(100000, 'n'))
                                             .pod<uint32_t>(9)
                                             .pod<uint64_t>(0)
                                             .with_crc()));
    FAIL("no error");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.size() < 400);
    CHECK(message.find("... (100000 bytes)' has rank 9") != std::string::npos);
  }
  Checkpoint c;
  c.tensors.push_back({"w", Tensor::scalar(1)});
  CHECK_THROWS_WITH(c.tensor(std::string("a\nb", 3)), "checkpoint has no tensor 'a\\x0ab'");
}

TEST_CASE("a tensor holding NaN or an infinity is refused on load, naming it", "[checkpoint]") {
  const fs::path path = temp_dir() / "nonfinite.ckpt";
  for (const float bad : {std::nanf(""), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    Checkpoint c = sample();
    c.tensors.push_back({"bn.running_var", Tensor::from_vector({3}, {1, 1, 1})});
    c.tensors.back().tensor.data()[2] = bad;
    save_checkpoint(path.string(), c);
    INFO(bad);
    CHECK_THROWS_WITH(load_checkpoint(path.string()),
                      Catch::StartsWith(path.string() + ": tensor 'bn.running_var' holds ") &&
                          Catch::EndsWith(" at element 2; expected finite values"));
  }
  // The largest finite values are weights like any other.
  Checkpoint c = sample();
  c.tensors.push_back({"big", Tensor::from_vector({2}, {3.4e38f, -3.4e38f})});
  save_checkpoint(path.string(), c);
  CHECK(load_checkpoint(path.string()).tensor("big").to_vector()[0] == 3.4e38f);
}
