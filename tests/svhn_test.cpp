// SVHN .mat files: tiny files written here with libmatio in the official layout (X uint8
// (32, 32, 3, N) column-major, y double (N, 1) with 10 for the digit 0), checked exactly.
#include "data/svhn.h"

#include <matio.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "tests/not_regular_files.h"
#include "tests/temp_root.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

const testing::TempRoot temp_root("lowbit_svhn_test");

fs::path temp_dir() { return temp_root.dir("files"); }

// X(r, c, ch, i): distinct across all four indices within a small file.
uint8_t value(size_t i, size_t ch, size_t r, size_t c) {
  return static_cast<uint8_t>(i * 53 + ch * 89 + r * 5 + c * 3);
}

// MATLAB order: the first index runs fastest.
std::vector<uint8_t> column_major_x(size_t n) {
  std::vector<uint8_t> x(32 * 32 * 3 * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t ch = 0; ch < 3; ++ch)
      for (size_t c = 0; c < 32; ++c)
        for (size_t r = 0; r < 32; ++r) x[r + 32 * c + 1024 * ch + 3072 * i] = value(i, ch, r, c);
  return x;
}

struct Variable {
  std::string name;
  matio_classes class_type;
  matio_types data_type;
  std::vector<size_t> dims;
  void* data;
};

std::string write_mat(const std::string& file, const std::vector<Variable>& variables,
                      matio_compression compression = MAT_COMPRESSION_ZLIB) {
  const std::string path = (temp_dir() / file).string();
  fs::remove(path);
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  REQUIRE(mat != nullptr);
  for (const Variable& v : variables) {
    std::vector<size_t> dims = v.dims;
    matvar_t* var =
        Mat_VarCreate(v.name.c_str(), v.class_type, v.data_type, static_cast<int>(dims.size()),
                      dims.data(), v.data, MAT_F_DONT_COPY_DATA);
    REQUIRE(var != nullptr);
    REQUIRE(Mat_VarWrite(mat, var, compression) == 0);
    Mat_VarFree(var);
  }
  Mat_Close(mat);
  return path;
}

}  // namespace

TEST_CASE("SVHN .mat files load transposed to NCHW with label 10 as the digit 0", "[data][svhn]") {
  const size_t n = 4;
  std::vector<uint8_t> x = column_major_x(n);
  std::vector<double> y = {10, 1, 5, 9};
  for (matio_compression compression : {MAT_COMPRESSION_NONE, MAT_COMPRESSION_ZLIB}) {
    const std::string path = write_mat("good.mat",
                                       {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, n}, x.data()},
                                        {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {n, 1}, y.data()}},
                                       compression);
    const Dataset d = load_svhn_mat(path);
    REQUIRE(d.size() == 4);
    CHECK(d.channels == 3);
    CHECK(d.height == 32);
    CHECK(d.width == 32);
    CHECK(d.labels == std::vector<int32_t>{0, 1, 5, 9});
    REQUIRE(d.pixels.size() == n * 3072);
    bool same = true;
    for (size_t i = 0; i < n; ++i)
      for (size_t ch = 0; ch < 3; ++ch)
        for (size_t r = 0; r < 32; ++r)
          for (size_t c = 0; c < 32; ++c)
            same = same && d.pixels[((i * 3 + ch) * 32 + r) * 32 + c] == value(i, ch, r, c);
    CHECK(same);
    // By hand: image 2, green, row 1, column 30 is X(2, 31, 2, 3) in MATLAB's 1-based terms.
    CHECK(d.pixels[2 * 3072 + 1024 + 1 * 32 + 30] == static_cast<uint8_t>(2 * 53 + 89 + 5 + 90));
    CHECK(d.class_names.size() == 10);
    CHECK(d.class_names[0] == "0");
  }
}

TEST_CASE("SVHN labels may be any real numeric class, and one image may drop its last dim",
          "[data][svhn]") {
  std::vector<uint8_t> x = column_major_x(1);
  std::vector<uint8_t> y = {10};
  const Dataset d =
      load_svhn_mat(write_mat("one.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3}, x.data()},
                                          {"y", MAT_C_UINT8, MAT_T_UINT8, {1, 1}, y.data()}}));
  REQUIRE(d.size() == 1);
  CHECK(d.labels[0] == 0);
  CHECK(d.pixels[2048 + 31 * 32] == value(0, 2, 31, 0));
}

TEST_CASE("bad SVHN files give one line naming the file", "[data][svhn]") {
  std::vector<uint8_t> x = column_major_x(2);
  std::vector<double> xd(x.begin(), x.end());
  std::vector<double> y = {1, 2}, y_bad = {3, 11}, y_zero = {0, 2}, y_half = {1.5, 2};
  const std::vector<size_t> x_dims = {32, 32, 3, 2}, y_dims = {2, 1};
  CHECK_THROWS_WITH(load_svhn_mat(write_mat("double_x.mat",
                                            {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, x_dims, xd.data()},
                                             {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, y.data()}})),
                    Catch::Contains("double_x.mat: X is double, expected uint8"));
  CHECK_THROWS_WITH(
      load_svhn_mat(write_mat("dims_x.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 6}, x.data()},
                                             {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, y.data()}})),
      Catch::Contains("dims_x.mat: X has dims (32, 32, 6), expected (32, 32, 3, N)"));
  CHECK_THROWS_WITH(load_svhn_mat(write_mat(
                        "hwcn.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, {2, 3, 32, 32}, x.data()},
                                     {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, y.data()}})),
                    Catch::Contains("hwcn.mat: X has dims (2, 3, 32, 32)"));
  CHECK_THROWS_WITH(
      load_svhn_mat(write_mat("dims_y.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, x_dims, x.data()},
                                             {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, y.data()}})),
      Catch::Contains("dims_y.mat: y has dims (1, 1), expected (2, 1)"));
  char text[] = "ab";
  CHECK_THROWS_WITH(
      load_svhn_mat(write_mat("char_y.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, x_dims, x.data()},
                                             {"y", MAT_C_CHAR, MAT_T_UINT8, y_dims, text}})),
      Catch::Contains("char_y.mat: y is char"));
  CHECK_THROWS_WITH(load_svhn_mat(write_mat(
                        "no_y.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, x_dims, x.data()},
                                     {"labels", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, y.data()}})),
                    Catch::Contains("no_y.mat: no variable 'y'"));
  CHECK_THROWS_WITH(
      load_svhn_mat(write_mat("no_x.mat", {{"y", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, y.data()}})),
      Catch::Contains("no_x.mat: no variable 'X'"));
  for (auto [file, labels, shown] : {std::tuple{"label11.mat", &y_bad, "label 11 at index 1"},
                                     std::tuple{"label0.mat", &y_zero, "label 0 at index 0"},
                                     std::tuple{"label15.mat", &y_half, "label 1.5 at index 0"}})
    CHECK_THROWS_WITH(
        load_svhn_mat(write_mat(file, {{"X", MAT_C_UINT8, MAT_T_UINT8, x_dims, x.data()},
                                       {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, labels->data()}})),
        Catch::Contains(std::string(file) + ": " + shown) && Catch::Contains("outside 1..10"));

  const fs::path text_file = temp_dir() / "not_mat.mat";
  std::ofstream(text_file) << "just some text, not a MATLAB file\n";
  CHECK_THROWS_WITH(load_svhn_mat(text_file.string()),
                    Catch::Contains("not_mat.mat: cannot open as a MATLAB"));
  CHECK_THROWS_WITH(load_svhn_mat((temp_dir() / "absent.mat").string()),
                    Catch::Contains("absent.mat: file not found"));

  // A file cut short (matio alone would read the missing bytes as zeros), compressed or not.
  for (matio_compression compression : {MAT_COMPRESSION_NONE, MAT_COMPRESSION_ZLIB}) {
    for (int part : {1, 2, 3}) {  // the last byte, the last 100 bytes, half the file
      const std::string path = write_mat("cut.mat",
                                         {{"y", MAT_C_DOUBLE, MAT_T_DOUBLE, y_dims, y.data()},
                                          {"X", MAT_C_UINT8, MAT_T_UINT8, x_dims, x.data()}},
                                         compression);
      const uintmax_t size = fs::file_size(path);
      fs::resize_file(path, part == 1 ? size - 1 : part == 2 ? size - 100 : size / 2);
      CHECK_THROWS_WITH(load_svhn_mat(path), Catch::Contains("cut.mat: truncated MAT-file"));
    }
    const std::string path =
        write_mat("cut.mat", {{"X", MAT_C_UINT8, MAT_T_UINT8, x_dims, x.data()}}, compression);
    fs::resize_file(path, 60);  // inside the 128-byte header
    CHECK_THROWS_WITH(load_svhn_mat(path), Catch::Contains("cut.mat: "));
  }
}

TEST_CASE("an SVHN file's dims are checked against what the file can hold before reading",
          "[data][svhn]") {
  std::vector<uint8_t> x = column_major_x(2);
  std::vector<double> y = {1, 2};
  // Uncompressed, the dims are plain int32s in the file: (2, 1) for y, (32, 32, 3, 2) for X,
  // each after its tag (type miINT32 = 5, byte count).
  const std::string path = write_mat("huge.mat",
                                     {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 2}, x.data()},
                                      {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 1}, y.data()}},
                                     MAT_COMPRESSION_NONE);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto patch = [&bytes](const std::vector<int32_t>& from, const std::vector<int32_t>& to) {
    const std::string a(reinterpret_cast<const char*>(from.data()), from.size() * 4),
        b(reinterpret_cast<const char*>(to.data()), to.size() * 4);
    const size_t at = bytes.find(a);
    REQUIRE(at != std::string::npos);
    REQUIRE(bytes.find(a, at + 1) == std::string::npos);
    bytes.replace(at, b.size(), b);
  };
  // 10^8 images promised by a file of 7 KB.
  patch({5, 16, 32, 32, 3, 2}, {5, 16, 32, 32, 3, 100000000});
  patch({5, 8, 2, 1}, {5, 8, 100000000, 1});
  std::ofstream(path, std::ios::binary) << bytes;
  CHECK_THROWS_WITH(load_svhn_mat(path),
                    Catch::Contains("huge.mat: y has dims (100000000, 1), 100000000 x 8 bytes: "
                                    "more than the ") &&
                        Catch::Contains("bytes of the file can hold"));
}

TEST_CASE("an SVHN path that is not a regular file is refused by name", "[data][svhn]") {
  const fs::path path = temp_root.fresh("kinds") / "train_32x32.mat";
  testing::check_refuses_what_is_not_a_regular_file(path, [&] { load_svhn_mat(path.string()); });
}

TEST_CASE("what matio would read blindly is refused before it opens the file", "[data][svhn]") {
  // Found by the svhn fuzz target (tests/fuzz/): matio allocates what a header declares.
  std::vector<uint8_t> x = column_major_x(1);
  double label = 3;
  const std::vector<Variable> variables = {
      {"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 1}, x.data()},
      {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, &label}};
  const std::string path = write_mat("walk.mat", variables, MAT_COMPRESSION_NONE);
  REQUIRE(load_svhn_mat(path).size() == 1);
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  // y's header: its miMATRIX tag, array flags (class 6, double), dims (1, 1), name "y".
  const size_t y_at = good.rfind(std::string("\x0e\x00\x00\x00", 4));
  REQUIRE(y_at != std::string::npos);
  auto written = [&](const std::function<void(std::string&)>& damage) {
    std::string bytes = good;
    damage(bytes);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  };
  auto put_u32 = [](std::string& b, size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<char>(v >> (8 * k));
  };
  CHECK_THROWS_WITH(load_svhn_mat(written([](std::string& b) { b[124] = 0, b[125] = 2; })),
                    Catch::Contains("walk.mat: MAT-file version 0x200 (MATLAB 7.3, HDF5), expected "
                                    "0x0100"));
  CHECK_THROWS_WITH(
      load_svhn_mat(written([&](std::string& b) { put_u32(b, y_at + 28, 0x8c898683u); })),
      Catch::Contains("walk.mat: the variable at byte " + std::to_string(y_at) +
                      " has dims of 2357823107 bytes, at most 128"));
  CHECK_THROWS_WITH(load_svhn_mat(written([&](std::string& b) { b[y_at + 16] = 2; })),
                    Catch::Contains("walk.mat: the variable at byte " + std::to_string(y_at) +
                                    " is of class 2 (struct), expected a numeric or char array"));

  // Compressed, the header is inflated to be checked: a name of 300 bytes.
  const std::string long_name(300, 'n');
  CHECK_THROWS_WITH(
      load_svhn_mat(write_mat(
          "long_name.mat", {variables[0], {long_name, MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, &label}},
          MAT_COMPRESSION_ZLIB)),
      Catch::Contains("long_name.mat: the variable at byte ") &&
          Catch::Contains(" has a name of 300 bytes, at most 255"));
}
