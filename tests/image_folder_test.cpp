// Image folders: small PNG, BMP and JPEG files written here with stb_image_write, checked
// pixel by pixel (lossless formats), plus every kind of bad folder or file.
#include "data/image_folder.h"

#include <stb/stb_image_write.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "core/parallel.h"
#include "tests/not_regular_files.h"
#include "tests/temp_root.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

const testing::TempRoot temp_root("lowbit_image_folder_test");

// Channel c of pixel (y, x) of image `id`, distinct across channels and positions.
uint8_t value(int id, int c, int y, int x) {
  return static_cast<uint8_t>(id * 40 + c * 80 + y * 9 + x * 2 + 1);
}

// (H, W, C) interleaved, as the writers want it.
std::vector<uint8_t> interleaved(int id, int height, int width, int channels) {
  std::vector<uint8_t> hwc;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) hwc.push_back(value(id, c, y, x));
  return hwc;
}

void write_png(const fs::path& path, int id, int height, int width, int channels = 3) {
  const std::vector<uint8_t> hwc = interleaved(id, height, width, channels);
  REQUIRE(stbi_write_png(path.c_str(), width, height, channels, hwc.data(), width * channels) != 0);
}

void write_bmp(const fs::path& path, int id, int height, int width) {
  const std::vector<uint8_t> hwc = interleaved(id, height, width, 3);
  REQUIRE(stbi_write_bmp(path.c_str(), width, height, 3, hwc.data()) != 0);
}

void write_jpg(const fs::path& path, int id, int height, int width) {
  const std::vector<uint8_t> hwc = interleaved(id, height, width, 3);
  REQUIRE(stbi_write_jpg(path.c_str(), width, height, 3, hwc.data(), 95) != 0);
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// Writes a 4x4 JPEG of image `id` at `path`, then lets `damage` change its bytes, given where its
// first segment with `marker` (FF marker) starts.
void write_damaged_jpg(const fs::path& path, int id, uint8_t marker,
                       const std::function<void(std::vector<uint8_t>&, size_t)>& damage) {
  write_jpg(path, id, 4, 4);
  std::vector<uint8_t> bytes = read_bytes(path);
  size_t at = 2;
  while (at + 1 < bytes.size() && !(bytes[at] == 0xFF && bytes[at + 1] == marker)) ++at;
  REQUIRE(at + 21 < bytes.size());  // the segment's length and 17 bytes more
  damage(bytes, at);
  write_bytes(path, bytes);
}

// Image i of d equals the written image `id` in every channel, row and column.
bool same_image(const Dataset& d, int64_t i, int id) {
  for (int64_t c = 0; c < d.channels; ++c)
    for (int64_t y = 0; y < d.height; ++y)
      for (int64_t x = 0; x < d.width; ++x)
        if (d.pixels[static_cast<size_t>(((i * d.channels + c) * d.height + y) * d.width + x)] !=
            value(id, static_cast<int>(c), static_cast<int>(y), static_cast<int>(x)))
          return false;
  return true;
}

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("image folders: sorted classes give labels, files sorted by name, exact pixels",
          "[data][image_folder]") {
  const fs::path root = temp_root.fresh("good");
  for (const char* c : {"b_cat", "a_dog", "c_owl"}) fs::create_directories(root / c);
  write_png(root / "b_cat" / "2.png", 1, 4, 5);
  write_png(root / "b_cat" / "10.PNG", 2, 4,
            5);  // "10.PNG" < "2.png" byte-wise; extensions ignore case
  write_bmp(root / "a_dog" / "x.bmp", 3, 4, 5);
  write_png(root / "c_owl" / "only.png", 4, 4, 5);
  write_bytes(root / "c_owl" / "notes.txt", {'h', 'i'});  // not an image: ignored
  fs::create_directories(root / ".cache");                // hidden: not a class
  write_png(root / "stray.png", 5, 9, 9);                 // not in a class folder: ignored

  const Dataset d = load_image_folder(root.string(), 3);
  CHECK(d.class_names == std::vector<std::string>{"a_dog", "b_cat", "c_owl"});
  CHECK(d.labels == std::vector<int32_t>{0, 1, 1, 2});
  CHECK(d.channels == 3);
  CHECK(d.height == 4);
  CHECK(d.width == 5);
  REQUIRE(d.pixels.size() == 4u * 3 * 4 * 5);
  CHECK(same_image(d, 0, 3));  // a_dog/x.bmp
  CHECK(same_image(d, 1, 2));  // b_cat/10.PNG
  CHECK(same_image(d, 2, 1));  // b_cat/2.png
  CHECK(same_image(d, 3, 4));  // c_owl/only.png
  // One value by hand: image 2 (id 1), blue plane (c = 2), row 3, column 4.
  CHECK(d.pixels[2 * 60 + 2 * 20 + 3 * 5 + 4] == 40 + 160 + 27 + 8 + 1);
}

TEST_CASE("image folders convert grey and RGB to the requested channels", "[data][image_folder]") {
  const fs::path root = temp_root.fresh("channels");
  fs::create_directories(root / "grey");
  fs::create_directories(root / "rgb");
  write_png(root / "grey" / "g.png", 1, 3, 3, 1);
  write_png(root / "rgb" / "c.png", 2, 3, 3, 3);
  const Dataset rgb = load_image_folder(root.string(), 3, 3);
  // The grey image is copied into all three planes.
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 9; ++p)
      CHECK(rgb.pixels[static_cast<size_t>(c * 9 + p)] == value(1, 0, p / 3, p % 3));
  CHECK(same_image(rgb, 1, 2));
  const Dataset grey = load_image_folder(root.string(), 1, 3);
  REQUIRE(grey.pixels.size() == 18u);
  CHECK(grey.pixels[4] == value(1, 0, 1, 1));
  // stb's luma: (77 R + 150 G + 29 B) >> 8.
  const int r = value(2, 0, 1, 2), g = value(2, 1, 1, 2), b = value(2, 2, 1, 2);
  CHECK(grey.pixels[9 + 5] == (77 * r + 150 * g + 29 * b) >> 8);
}

TEST_CASE("image folders decode JPEG", "[data][image_folder]") {
  const fs::path root = temp_root.fresh("jpeg");
  fs::create_directories(root / "k");
  write_jpg(root / "k" / "a.JPG", 1, 8, 8);
  write_jpg(root / "k" / "b.jpeg", 2, 8, 8);
  const Dataset d = load_image_folder(root.string(), 3, 8);
  REQUIRE(d.size() == 2);
  int worst = 0;  // lossy: close to the written values, not equal
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x)
        worst = std::max(worst, std::abs(int{d.pixels[static_cast<size_t>((c * 8 + y) * 8 + x)]} -
                                         value(1, c, y, x)));
  CHECK(worst <= 12);
}

TEST_CASE("image folders give the same result on one thread and on two", "[data][image_folder]") {
  ThreadsGuard guard;
  const fs::path root = temp_root.fresh("threads");
  for (int k = 0; k < 3; ++k) {
    fs::create_directories(root / ("class" + std::to_string(k)));
    for (int i = 0; i < 70; ++i)
      write_png(root / ("class" + std::to_string(k)) / (std::to_string(1000 + i) + ".png"),
                k * 70 + i, 6, 6);
  }
  set_num_threads(1);
  const Dataset one = load_image_folder(root.string(), 3, 6);
  set_num_threads(2);
  const Dataset two = load_image_folder(root.string(), 3, 6);
  REQUIRE(one.size() == 210);
  CHECK(one.pixels == two.pixels);
  CHECK(one.labels == two.labels);
  for (int i = 0; i < 210; i += 23) CHECK(same_image(two, i, i));
  // With two bad files the first in file order is reported, whatever the thread count.
  write_png(root / "class2" / "1050.png", 0, 5, 6);
  write_bytes(root / "class0" / "1060.png", {1, 2, 3, 4});
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3, 6),
                      Catch::Contains("class0/1060.png: cannot decode"));
  }
}

TEST_CASE("bad image folders give one line naming the folder or file", "[data][image_folder]") {
  const fs::path root = temp_root.fresh("bad");
  fs::create_directories(root / "a");
  fs::create_directories(root / "b");
  write_png(root / "a" / "1.png", 1, 4, 4);
  write_png(root / "b" / "1.png", 2, 4, 4);
  REQUIRE(load_image_folder(root.string(), 3).size() == 2);

  SECTION("undecodable file") {
    write_bytes(root / "b" / "2.png", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("b/2.png: cannot decode"));
  }
  SECTION("empty file") {
    write_bytes(root / "b" / "2.jpg", {});
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3), Catch::Contains("b/2.jpg: empty file"));
  }
  SECTION("wrong size against the first image") {
    write_png(root / "b" / "2.png", 3, 4, 5);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("b/2.png: image is 4x5 (height x width), expected 4x4"));
  }
  SECTION("wrong size against expected_side") {
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3, 32),
                      Catch::Contains("a/1.png: image is 4x4 (height x width), expected 32x32"));
  }
  SECTION("truncated PNG") {
    std::vector<uint8_t> bytes = read_bytes(root / "b" / "1.png");
    bytes.resize(bytes.size() - 20);
    write_bytes(root / "b" / "1.png", bytes);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("b/1.png: truncated PNG (a chunk at byte 33 needs"));
  }
  SECTION("truncated JPEG") {
    write_jpg(root / "b" / "2.jpg", 3, 4, 4);
    REQUIRE(load_image_folder(root.string(), 3).size() == 3);
    std::vector<uint8_t> bytes = read_bytes(root / "b" / "2.jpg");
    bytes.resize(bytes.size() - 10);
    write_bytes(root / "b" / "2.jpg", bytes);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("b/2.jpg: truncated JPEG"));
  }
  SECTION("truncated BMP") {
    write_bmp(root / "b" / "2.bmp", 3, 4, 4);
    REQUIRE(load_image_folder(root.string(), 3).size() == 3);
    std::vector<uint8_t> bytes = read_bytes(root / "b" / "2.bmp");
    bytes.resize(bytes.size() - 5);
    write_bytes(root / "b" / "2.bmp", bytes);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("b/2.bmp: truncated BMP"));
  }
  SECTION("damaged JPEG") {
    // The frame header's length made impossible: stbi_info tries every format and would name the
    // last one ("bad png sig"); the message names the JPEG's own fault.
    write_damaged_jpg(root / "b" / "2.jpg", 3, 0xC0, [](std::vector<uint8_t>& b, size_t sof) {
      b[sof + 2] = 0, b[sof + 3] = 2;  // a frame header of 2 bytes: too short
    });
    CHECK_THROWS_WITH(
        load_image_folder(root.string(), 3),
        Catch::Contains("b/2.jpg: cannot decode (damaged JPEG: ") && !Catch::Contains("png"));
  }
  SECTION("not an image at all") {
    write_bytes(root / "b" / "2.png", {'<', 'h', 't', 'm', 'l', '>'});
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("b/2.png: cannot decode (not a PNG, JPEG or BMP image: it "
                                      "starts with the bytes 3c 68 74 6d)"));
  }
  SECTION("an image name on what is not a regular file") {
    // Each is refused by name rather than passed over (or, for a FIFO, blocked on).
    testing::check_refuses_what_is_not_a_regular_file(root / "b" / "2.png",
                                                      [&] { load_image_folder(root.string(), 3); });
  }
  SECTION("a header declaring an implausible size") {
    // PNG's IHDR follows the 8-byte signature and the chunk's length and type: width at 16.
    std::vector<uint8_t> bytes = read_bytes(root / "a" / "1.png");
    bytes[16] = 0, bytes[17] = 1, bytes[18] = 0, bytes[19] = 0;  // 65536 wide
    write_bytes(root / "a" / "1.png", bytes);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("a/1.png: image size 4x65536 is larger than 8192 per side"));
  }
  SECTION("every header is checked before the pixel buffer is sized by the first") {
    // The first image says 6000x6000: sized by it alone, the buffer would be 2 x 108 MB; the
    // second image's header refuses the folder first.
    std::vector<uint8_t> bytes = read_bytes(root / "a" / "1.png");
    bytes[18] = 0x17, bytes[19] = 0x70, bytes[22] = 0x17, bytes[23] = 0x70;  // 6000 x 6000
    write_bytes(root / "a" / "1.png", bytes);
    CHECK_THROWS_WITH(
        load_image_folder(root.string(), 3),
        Catch::Contains("b/1.png: image is 4x4 (height x width), expected 6000x6000"));
  }
  SECTION("empty class folder") {
    fs::create_directories(root / "c");
    write_bytes(root / "c" / "readme.txt", {'x'});
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("/c: empty class folder"));
  }
  SECTION("no class folders") {
    const fs::path empty = temp_root.fresh("none");
    CHECK_THROWS_WITH(load_image_folder(empty.string(), 3),
                      Catch::Contains("none: no class folders"));
  }
  SECTION("missing root and bad channel count") {
    CHECK_THROWS_WITH(load_image_folder((root / "nope").string(), 3),
                      Catch::Contains("nope: not a directory"));
    CHECK_THROWS_WITH(load_image_folder(root.string(), 0), Catch::Contains("0 channels requested"));
  }
}

TEST_CASE("what stb_image would mishandle is refused before it sees the file",
          "[data][image_folder]") {
  // Found by the image_folder fuzz target (tests/fuzz/): each went into stb_image 2.27 unchecked.
  const fs::path root = temp_root.fresh("unsafe");
  fs::create_directories(root / "a");
  write_png(root / "a" / "1.png", 1, 4, 4);
  REQUIRE(load_image_folder(root.string(), 3).size() == 1);

  SECTION("a format lowbit does not read, even one stb decodes") {
    const std::vector<uint8_t> hwc = interleaved(2, 4, 4, 3);
    REQUIRE(stbi_write_tga((root / "a" / "2.png").c_str(), 4, 4, 3, hwc.data()) != 0);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("a/2.png: cannot decode (not a PNG, JPEG or BMP image"));
  }
  SECTION("a JPEG Huffman table of more than 256 codes (CVE-2021-37789)") {
    write_damaged_jpg(root / "a" / "2.jpg", 2, 0xC4, [](std::vector<uint8_t>& b, size_t dht) {
      for (size_t k = 1; k <= 16; ++k) b[dht + 4 + k] = 255;  // 16 x 255 codes
    });
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("a/2.jpg: cannot decode (damaged JPEG: a Huffman table of "
                                      "4080 codes, at most 256)"));
  }
  SECTION("a JPEG scan that uses a Huffman table no segment defines") {
    write_damaged_jpg(root / "a" / "2.jpg", 2, 0xDA, [](std::vector<uint8_t>& b, size_t sos) {
      b[sos + 6] = 0x30;  // the first component's tables: DC 3, AC 0
    });
    CHECK_THROWS_WITH(
        load_image_folder(root.string(), 3),
        Catch::Contains("a/2.jpg: cannot decode (damaged JPEG: a scan uses DC Huffman "
                        "table 3, which no DHT segment before it defines)"));
  }
  SECTION("a PNG chunk longer than the file, which stb would allocate first") {
    std::vector<uint8_t> bytes = read_bytes(root / "a" / "1.png");
    // The first chunk after IHDR (8 + 25 bytes) gets a length of 1 GiB.
    bytes[33] = 0x40, bytes[34] = 0, bytes[35] = 0, bytes[36] = 0;
    write_bytes(root / "a" / "1.png", bytes);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("a/1.png: truncated PNG (a chunk at byte 33 needs 1073741869 "
                                      "bytes"));
  }
  SECTION("a BMP of negative width") {
    write_bmp(root / "a" / "1.bmp", 2, 4, 4);
    fs::remove(root / "a" / "1.png");
    std::vector<uint8_t> bytes = read_bytes(root / "a" / "1.bmp");
    bytes[18] = 0xFB, bytes[19] = 0xFF, bytes[20] = 0xFF, bytes[21] = 0xFF;  // -5
    write_bytes(root / "a" / "1.bmp", bytes);
    CHECK_THROWS_WITH(load_image_folder(root.string(), 3),
                      Catch::Contains("a/1.bmp: image size 4x-5 has a side below 1"));
  }
}
