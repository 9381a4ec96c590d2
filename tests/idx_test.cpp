// IDX loader: small files written here (plain and gzip), every kind of bad file (a gzip bomb,
// headers promising more than the file holds, paths that are not regular files), and the real
// MNIST in ../shared/data when it is present.
#include "data/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/check.h"
#include "tests/not_regular_files.h"

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

namespace {

// One gzip member holding `bytes`.
std::string gzip_member(const std::vector<uint8_t>& bytes) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

TEST_CASE("a gzip bomb is inflated no further than its header declares", "[data][idx]") {
  const fs::path dir = temp_dir();
  const std::string labels = write(dir / "bomb_labels.gz", labels_file(0x801, {1, 2}), true);
  // The header promises 2 images of 28x28 (1568 bytes); the file inflates to 4 GiB of zeros: a
  // member with the header, then 4096 copies of one member of 1 MiB of zeros (gzip files may be
  // concatenated), 4 MB on disk.
  const std::string path = (dir / "t10k-images-idx3-ubyte.gz").string();
  {
    std::ofstream out(path, std::ios::binary);
    out << gzip_member(images_file(0x803, 2, 28, 28, 0));
    const std::string zeros = gzip_member(std::vector<uint8_t>(1 << 20));
    for (int i = 0; i < 4096; ++i) out << zeros;
  }
  // Inflating all of it would take seconds and, kept, 4 GiB: the reader stops at byte 1569 and
  // says so (speed is not timed here: benchmarks measure it).
  CHECK_THROWS_WITH(load_idx(path, labels),
                    Catch::Contains("t10k-images-idx3-ubyte.gz: more than the 1568 bytes of pixels "
                                    "its header declares (trailing data; not read further)"));
  fs::remove(path);
}

TEST_CASE("an IDX header is checked against what its file can hold before anything is allocated",
          "[data][idx]") {
  const fs::path dir = temp_dir();
  const std::string lab = write(dir / "labels_2", labels_file(0x801, {1, 2}));
  // 10^9 images promised by 16 bytes: plain, and compressed (at most 1032 bytes per byte).
  for (bool gz : {false, true}) {
    const std::string images =
        write(dir / (gz ? "billion.gz" : "billion"), images_file(0x803, 1000000000, 28, 28, 0), gz);
    std::vector<uint8_t> many_labels = labels_file(0x801, {});
    many_labels[7] = 0, many_labels[6] = 0xCA, many_labels[5] = 0x9A, many_labels[4] = 0x3B;
    const std::string labels =
        write(dir / (gz ? "billion_labels.gz" : "billion_labels"), many_labels, gz);
    CHECK_THROWS_WITH(load_idx(images, labels),
                      Catch::Contains(images + ": its header declares 1000000000 x 28 x 28 = "
                                               "784000000000 bytes of pixels, more than the file "
                                               "can hold"));
  }
  // The two headers agree before either body is read.
  CHECK_THROWS_WITH(load_idx(write(dir / "three", images_file(0x803, 3, 2, 2, 12)), lab),
                    Catch::Contains("labels_2: 2 labels for 3 images"));
  // A plain file with bytes past its body.
  CHECK_THROWS_WITH(load_idx(write(dir / "long", images_file(0x803, 2, 2, 2, 9)), lab),
                    Catch::Contains("long: more than the 8 bytes of pixels its header declares"));
}

TEST_CASE("an IDX path that is not a regular file is refused by name", "[data][idx]") {
  const fs::path dir = temp_dir() / "kinds";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string lab = write(dir / "labels", labels_file(0x801, {1, 2}));
  testing::check_refuses_what_is_not_a_regular_file(
      dir / "images", [&] { load_idx((dir / "images").string(), lab); });
  // The .gz a plain name falls back to is refused the same way.
  testing::check_refuses_what_is_not_a_regular_file(
      dir / "fifo.gz", [&] { load_idx((dir / "fifo").string(), lab); });
}
