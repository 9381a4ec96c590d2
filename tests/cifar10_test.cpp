// CIFAR-10 binary batches: small batch files written here in the official record format,
// checked pixel by pixel, and every kind of bad batch.
#include "data/cifar10.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "tests/not_regular_files.h"
#include "tests/temp_root.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

const testing::TempRoot temp_root("lowbit_cifar10_test");

// Pixel value of image `id`, channel c, row y, column x: distinct across planes and positions.
uint8_t pixel(int id, int c, int y, int x) {
  return static_cast<uint8_t>(id * 31 + c * 101 + y * 7 + x * 3);
}

// One record: the label byte, then the R, G and B planes, each row-major 32x32.
void append_record(std::vector<uint8_t>& bytes, int label, int id) {
  bytes.push_back(static_cast<uint8_t>(label));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) bytes.push_back(pixel(id, c, y, x));
}

void write(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// Five training batches of 2 + i records (ids 0..) and a test batch of 3 records (ids 100..).
void write_batches(const fs::path& dir) {
  int id = 0;
  for (int b = 1; b <= 5; ++b) {
    std::vector<uint8_t> bytes;
    for (int r = 0; r < 1 + b; ++r, ++id) append_record(bytes, id % 10, id);
    write(dir / ("data_batch_" + std::to_string(b) + ".bin"), bytes);
  }
  std::vector<uint8_t> test;
  for (int r = 0; r < 3; ++r) append_record(test, 9 - r, 100 + r);
  write(dir / "test_batch.bin", test);
}

}  // namespace

TEST_CASE("CIFAR-10 binary batches load in order with their planes as C, H, W", "[data][cifar10]") {
  const fs::path dir = temp_root.fresh("good");
  write_batches(dir);
  const Dataset train = load_cifar10_binary(dir.string(), true);
  REQUIRE(train.size() == 2 + 3 + 4 + 5 + 6);
  CHECK(train.channels == 3);
  CHECK(train.height == 32);
  CHECK(train.width == 32);
  REQUIRE(train.pixels.size() == 20u * 3072u);
  for (int i = 0; i < 20; ++i) {
    CHECK(train.labels[static_cast<size_t>(i)] == i % 10);
    bool same = true;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          same = same && train.pixels[static_cast<size_t>(((i * 3 + c) * 32 + y) * 32 + x)] ==
                             pixel(i, c, y, x);
    CHECK(same);
  }
  // One hand-picked value: image 7, green plane, row 2, column 5.
  CHECK(train.pixels[7 * 3072 + 1024 + 2 * 32 + 5] == static_cast<uint8_t>(7 * 31 + 101 + 14 + 15));
  CHECK(train.class_names == cifar10_class_names());

  const Dataset test = load_cifar10_binary(dir.string(), false);
  REQUIRE(test.size() == 3);
  CHECK(test.labels == std::vector<int32_t>{9, 8, 7});
  CHECK(test.pixels[2 * 3072 + 2048 + 31 * 32 + 31] == pixel(102, 2, 31, 31));
}

TEST_CASE("the CIFAR-10 class names are the ten official ones in label order", "[data][cifar10]") {
  const std::vector<std::string> expected = {"airplane", "automobile", "bird",  "cat",  "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};
  CHECK(cifar10_class_names() == expected);
}

TEST_CASE("bad CIFAR-10 batches give one line naming the file", "[data][cifar10]") {
  SECTION("truncated batch") {
    const fs::path dir = temp_root.fresh("truncated");
    write_batches(dir);
    std::vector<uint8_t> bytes;
    append_record(bytes, 1, 1);
    bytes.resize(bytes.size() - 1);
    write(dir / "data_batch_3.bin", bytes);
    CHECK_THROWS_WITH(
        load_cifar10_binary(dir.string(), true),
        Catch::Contains("data_batch_3.bin: 3072 bytes") && Catch::Contains("truncated"));
  }
  SECTION("missing batch") {
    const fs::path dir = temp_root.fresh("missing");
    write_batches(dir);
    fs::remove(dir / "data_batch_5.bin");
    CHECK_THROWS_WITH(load_cifar10_binary(dir.string(), true),
                      Catch::Contains("data_batch_5.bin: file not found"));
    CHECK(load_cifar10_binary(dir.string(), false).size() == 3);  // the test split is still whole
    fs::remove(dir / "test_batch.bin");
    CHECK_THROWS_WITH(load_cifar10_binary(dir.string(), false),
                      Catch::Contains("test_batch.bin: file not found"));
  }
  SECTION("empty batch") {
    const fs::path dir = temp_root.fresh("empty");
    write_batches(dir);
    write(dir / "test_batch.bin", {});
    CHECK_THROWS_WITH(load_cifar10_binary(dir.string(), false),
                      Catch::Contains("test_batch.bin: 0 bytes"));
  }
  SECTION("label out of range") {
    const fs::path dir = temp_root.fresh("label");
    write_batches(dir);
    std::vector<uint8_t> bytes;
    append_record(bytes, 3, 0);
    append_record(bytes, 10, 1);
    write(dir / "data_batch_2.bin", bytes);
    CHECK_THROWS_WITH(load_cifar10_binary(dir.string(), true),
                      Catch::Contains("data_batch_2.bin: label 10 in record 1"));
  }
  SECTION("a batch that is not a regular file") {
    const fs::path dir = temp_root.fresh("kinds");
    write_batches(dir);
    testing::check_refuses_what_is_not_a_regular_file(
        dir / "data_batch_3.bin", [&] { load_cifar10_binary(dir.string(), true); });
    testing::check_refuses_what_is_not_a_regular_file(
        dir / "test_batch.bin", [&] { load_cifar10_binary(dir.string(), false); });
  }
  SECTION("not a directory") {
    CHECK_THROWS_WITH(load_cifar10_binary("/nonexistent/cifar", true),
                      Catch::Contains("/nonexistent/cifar: not a"));
  }
}
