// Checkpoints: round trip, atomic replacement, and a clear error for every kind of damage.
#include "core/checkpoint.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/check.h"

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
