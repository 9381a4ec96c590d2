// IDX loader: small files written here (plain and gzip), every kind of bad file, and the
// real MNIST in ../shared/data when it is present.
#include "data/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/check.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("lowbit_idx_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

std::vector<uint8_t> images_file(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                                 size_t pixel_bytes) {
  std::vector<uint8_t> b;
  put_u32(b, magic);
  put_u32(b, count);
  put_u32(b, rows);
  put_u32(b, cols);
  for (size_t i = 0; i < pixel_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7));
  return b;
}

std::vector<uint8_t> labels_file(uint32_t magic, const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> b;
  put_u32(b, magic);
  put_u32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

std::string write(const fs::path& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  }
  return path.string();
}

}  // namespace

TEST_CASE("IDX files load plain and gzip-compressed", "[data]") {
  const fs::path dir = temp_dir();
  const auto img = images_file(0x803, 3, 2, 2, 12);
  const auto lab = labels_file(0x801, {7, 0, 9});
  for (bool gz : {false, true}) {
    const std::string suffix = gz ? ".gz" : "";
    const Dataset d =
        load_idx(write(dir / ("img" + suffix), img, gz), write(dir / ("lab" + suffix), lab, gz));
    CHECK(d.size() == 3);
    CHECK(d.channels == 1);
    CHECK(d.height == 2);
    CHECK(d.width == 2);
    CHECK(d.labels == std::vector<int32_t>{7, 0, 9});
    CHECK(d.pixels[5] == 35);
  }
  // The plain name finds its .gz sibling.
  write(dir / "only.gz", img, true);
  CHECK(load_idx((dir / "only").string(), (dir / "lab").string()).size() == 3);
}

TEST_CASE("bad IDX files give one line naming the file and the expectation", "[data]") {
  const fs::path dir = temp_dir();
  const std::string lab = write(dir / "good_labels", labels_file(0x801, {1, 2}));
  const std::string img = write(dir / "good_images", images_file(0x803, 2, 2, 2, 8));
  CHECK_THROWS_WITH(load_idx((dir / "missing").string(), lab),
                    Catch::Contains("missing") && Catch::Contains("not found"));
  CHECK_THROWS_WITH(load_idx(lab, lab), Catch::Contains("good_labels") &&
                                            Catch::Contains("magic number 2049, expected 2051"));
  CHECK_THROWS_WITH(load_idx(write(dir / "short", images_file(0x803, 2, 2, 2, 7)), lab),
                    Catch::Contains("short") && Catch::Contains("truncated"));
  CHECK_THROWS_WITH(load_idx(write(dir / "three", images_file(0x803, 3, 2, 2, 12)), lab),
                    Catch::Contains("2 labels for 3 images"));
  CHECK_THROWS_WITH(load_idx(img, write(dir / "bad_label", labels_file(0x801, {1, 10}))),
                    Catch::Contains("label 10 at index 1"));
  CHECK_THROWS_WITH(load_idx(img, write(dir / "tiny", std::vector<uint8_t>{0, 0})),
                    Catch::Contains("too short"));
}

TEST_CASE("the real MNIST files load in full", "[data]") {
  const fs::path mnist = fs::path(LOWBIT_SHARED_DATA) / "mnist";
  if (!fs::exists(mnist / "train-images-idx3-ubyte.gz")) {
    WARN("skipped: " << mnist << " is not present");
    return;
  }
  const Dataset train = load_idx((mnist / "train-images-idx3-ubyte.gz").string(),
                                 (mnist / "train-labels-idx1-ubyte.gz").string());
  const Dataset test = load_idx((mnist / "t10k-images-idx3-ubyte.gz").string(),
                                (mnist / "t10k-labels-idx1-ubyte.gz").string());
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  CHECK(train.height == 28);
  std::vector<int> histogram(10);
  for (int32_t l : test.labels) histogram[static_cast<size_t>(l)]++;
  CHECK(histogram[0] == 980);  // the published t10k class counts
  CHECK(histogram[1] == 1135);
  CHECK(std::accumulate(histogram.begin(), histogram.end(), 0) == 10000);
}
