// The data-set table, the directory search (flag, $LOWBIT_DATA, ./data, Debian's
// Fashion-MNIST) and load_dataset on every layout, written here in small files; plus the
// real MNIST, Fashion-MNIST and CIFAR-10 (JPEG copy) when they are present.
#include "data/datasets.h"

#include <matio.h>
#include <stb/stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "data/cifar10.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

fs::path test_root() {
  return fs::temp_directory_path() / ("lowbit_datasets_test_" + std::to_string(::getpid()));
}

// Removes this file's temporary files when the test program exits, however the tests end.
struct TempCleaner {
  ~TempCleaner() {
    std::error_code ignored;
    fs::remove_all(test_root(), ignored);
  }
};

TempCleaner temp_cleaner;

fs::path fresh_dir(const std::string& name) {
  fs::path dir = test_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  fs::create_directories(path.parent_path());
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
}

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// The four IDX files of an MNIST-like set with `train` and `test` images of side x side;
// the training files gzip-compressed, the test files plain (both are accepted).
void write_idx_set(const fs::path& dir, uint32_t train, uint32_t test, uint32_t side = 28) {
  for (auto [prefix, count, gz] :
       {std::tuple{"train", train, true}, std::tuple{"t10k", test, false}}) {
    std::vector<uint8_t> images, labels;
    put_u32(images, 0x803);
    put_u32(images, count);
    put_u32(images, side);
    put_u32(images, side);
    for (uint32_t i = 0; i < count * side * side; ++i)
      images.push_back(static_cast<uint8_t>(i % 251));
    put_u32(labels, 0x801);
    put_u32(labels, count);
    for (uint32_t i = 0; i < count; ++i) labels.push_back(static_cast<uint8_t>((i * 3) % 10));
    const std::string suffix = gz ? ".gz" : "";
    write_bytes(dir / (std::string(prefix) + "-images-idx3-ubyte" + suffix), images, gz);
    write_bytes(dir / (std::string(prefix) + "-labels-idx1-ubyte" + suffix), labels, gz);
  }
}

// CIFAR-10 binary batches: `per_batch` records in each of the five training batches, 2 in the test
// batch.
void write_cifar_batches(const fs::path& dir, int per_batch) {
  auto batch = [](int records, int first_id) {
    std::vector<uint8_t> bytes;
    for (int r = 0; r < records; ++r) {
      bytes.push_back(static_cast<uint8_t>((first_id + r) % 10));
      for (int p = 0; p < 3072; ++p) bytes.push_back(static_cast<uint8_t>(first_id + r + p));
    }
    return bytes;
  };
  for (int b = 1; b <= 5; ++b)
    write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"),
                batch(per_batch, (b - 1) * per_batch));
  write_bytes(dir / "test_batch.bin", batch(2, 100));
}

// One 32x32 PNG per class (value = 10 * label) in dir/<class>/0.png.
void write_cifar_folder(const fs::path& dir, const std::vector<std::string>& classes) {
  for (size_t k = 0; k < classes.size(); ++k) {
    fs::create_directories(dir / classes[k]);
    const std::vector<uint8_t> hwc(32 * 32 * 3, static_cast<uint8_t>(10 * k));
    REQUIRE(stbi_write_png((dir / classes[k] / "0.png").c_str(), 32, 32, 3, hwc.data(), 32 * 3) !=
            0);
  }
}

// An SVHN-layout .mat file with n images (pixel = image index) and labels 10, 1, 2, ..., 9, 10, 1,
// ...
void write_svhn(const fs::path& path, size_t n) {
  std::vector<uint8_t> x(3072 * n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i / 3072);
  std::vector<double> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = i % 10 == 0 ? 10 : static_cast<double>(i % 10);
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  REQUIRE(mat != nullptr);
  size_t x_dims[4] = {32, 32, 3, n}, y_dims[2] = {n, 1};
  matvar_t* vx =
      Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, x_dims, x.data(), MAT_F_DONT_COPY_DATA);
  matvar_t* vy =
      Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, y_dims, y.data(), MAT_F_DONT_COPY_DATA);
  Mat_VarWrite(mat, vx, MAT_COMPRESSION_ZLIB);
  Mat_VarWrite(mat, vy, MAT_COMPRESSION_ZLIB);
  Mat_VarFree(vx);
  Mat_VarFree(vy);
  Mat_Close(mat);
}

// Restores the working directory and LOWBIT_DATA however the test ends.
struct EnvironmentGuard {
  fs::path cwd = fs::current_path();
  bool had_data = std::getenv("LOWBIT_DATA") != nullptr;
  std::string data = had_data ? std::getenv("LOWBIT_DATA") : "";
  ~EnvironmentGuard() {
    fs::current_path(cwd);
    if (had_data) {
      ::setenv("LOWBIT_DATA", data.c_str(), 1);
    } else {
      ::unsetenv("LOWBIT_DATA");
    }
  }
};

std::vector<int> class_counts(const Dataset& d) {
  std::vector<int> counts(d.class_names.size());
  for (int32_t l : d.labels) counts[static_cast<size_t>(l)]++;
  return counts;
}

// Per-channel mean and standard deviation of the pixels scaled to [0, 1], in double.
void channel_stats(const Dataset& d, std::vector<double>& mean, std::vector<double>& stddev) {
  const int64_t plane = d.height * d.width;
  mean.assign(static_cast<size_t>(d.channels), 0);
  stddev.assign(static_cast<size_t>(d.channels), 0);
  for (int64_t c = 0; c < d.channels; ++c) {
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < d.size(); ++i) {
      const uint8_t* p = d.pixels.data() + (i * d.channels + c) * plane;
      for (int64_t k = 0; k < plane; ++k) {
        const double v = p[k] / 255.0;
        sum += v;
        sum_sq += v * v;
      }
    }
    const double count = static_cast<double>(d.size() * plane);
    mean[static_cast<size_t>(c)] = sum / count;
    stddev[static_cast<size_t>(c)] = std::sqrt(sum_sq / count - (sum / count) * (sum / count));
  }
}

// The table's normalization matches the statistics of the training pixels.
void check_stats_against_table(const Dataset& train, double tolerance) {
  const DatasetInfo& info = dataset_info(train.name);
  std::vector<double> mean, stddev;
  channel_stats(train, mean, stddev);
  for (size_t c = 0; c < mean.size(); ++c) {
    INFO(train.name << " channel " << c << ": mean " << mean[c] << ", stddev " << stddev[c]);
    CHECK(std::abs(mean[c] - info.mean[c]) < tolerance);
    CHECK(std::abs(stddev[c] - info.stddev[c]) < tolerance);
  }
}

}  // namespace

TEST_CASE("the data-set table", "[data][datasets]") {
  const std::vector<DatasetInfo>& table = dataset_table();
  REQUIRE(table.size() == 4);
  CHECK(table[0].name == "mnist");
  CHECK(table[1].name == "fashion-mnist");
  CHECK(table[2].name == "cifar10");
  CHECK(table[3].name == "svhn");
  for (const DatasetInfo& info : table) {
    INFO(info.name);
    CHECK(info.num_classes == 10);
    CHECK(info.mean.size() == static_cast<size_t>(info.channels));
    CHECK(info.stddev.size() == static_cast<size_t>(info.channels));
    CHECK(info.horizontal_flip == (info.name == "cifar10"));  // digits must not be mirrored
    CHECK(info.crop_padding == (info.side == 32 ? 4 : 0));
    CHECK(info.channels == (info.side == 32 ? 3 : 1));
  }
  CHECK(dataset_info("cifar10").mean[2] == Approx(0.4465f));
  CHECK(&dataset_info("svhn") == &table[3]);
  CHECK_THROWS_WITH(dataset_info("imagenet"),
                    Catch::Contains("unknown data set 'imagenet'") &&
                        Catch::Contains("mnist, fashion-mnist, cifar10, svhn"));
}

TEST_CASE("resolve_data_dir: flag, then $LOWBIT_DATA, then ./data, then Debian's Fashion-MNIST",
          "[data][datasets]") {
  EnvironmentGuard guard;
  const fs::path root = fresh_dir("resolve");
  const fs::path flag = root / "flag", env = root / "env", cwd = root / "cwd";
  for (const fs::path& p : {flag, env / "mnist", cwd / "data" / "mnist", env / "fashion-mnist"})
    fs::create_directories(p);
  fs::current_path(cwd);
  ::setenv("LOWBIT_DATA", env.c_str(), 1);

  CHECK(resolve_data_dir("mnist", flag.string()) == flag.string());
  CHECK_THROWS_WITH(resolve_data_dir("mnist", (root / "nope").string()),
                    Catch::Contains("nope: no such directory") && Catch::Contains("mnist"));
  CHECK(resolve_data_dir("mnist", "") == (env / "mnist").string());
  fs::remove(env / "mnist");
  CHECK(resolve_data_dir("mnist", "") == "./data/mnist");
  ::unsetenv("LOWBIT_DATA");
  CHECK(resolve_data_dir("mnist", "") == "./data/mnist");
  fs::remove(cwd / "data" / "mnist");
  CHECK_THROWS_WITH(resolve_data_dir("mnist", ""),
                    Catch::Contains("no mnist data: looked in ./data/mnist;") &&
                        Catch::Contains("scripts/download-data.sh mnist"));
  ::setenv("LOWBIT_DATA", env.c_str(), 1);
  CHECK_THROWS_WITH(
      resolve_data_dir("cifar10", ""),
      Catch::Contains("looked in " + (env / "cifar10").string() + ", ./data/cifar10;"));
  CHECK_THROWS_WITH(resolve_data_dir("svhn", ""),
                    Catch::Contains("svhn") && !Catch::Contains("apt-get"));
  CHECK_THROWS_WITH(resolve_data_dir("resnet", ""), Catch::Contains("unknown data set 'resnet'"));

  // fashion-mnist: $LOWBIT_DATA and ./data win over the system copy, which is the last resort.
  CHECK(resolve_data_dir("fashion-mnist", "") == (env / "fashion-mnist").string());
  fs::remove(env / "fashion-mnist");
  fs::create_directories(cwd / "data" / "fashion-mnist");
  CHECK(resolve_data_dir("fashion-mnist", "") == "./data/fashion-mnist");
  fs::remove(cwd / "data" / "fashion-mnist");
  if (fs::is_directory("/usr/share/datasets/fashion-mnist")) {
    CHECK(resolve_data_dir("fashion-mnist", "") == "/usr/share/datasets/fashion-mnist");
  } else {
    WARN("skipped the system fallback: /usr/share/datasets/fashion-mnist is not installed");
    CHECK_THROWS_WITH(resolve_data_dir("fashion-mnist", ""),
                      Catch::Contains("/usr/share/datasets/fashion-mnist") &&
                          Catch::Contains("apt-get install dataset-fashion-mnist"));
  }
}

TEST_CASE("load_dataset reads MNIST and Fashion-MNIST IDX files, plain or gzip",
          "[data][datasets]") {
  const fs::path dir = fresh_dir("idx");
  write_idx_set(dir, 5, 3);
  const TrainTest mnist = load_dataset("mnist", dir.string());
  CHECK(mnist.train.size() == 5);
  CHECK(mnist.test.size() == 3);
  CHECK(mnist.train.name == "mnist");
  CHECK(mnist.test.name == "mnist");
  CHECK(mnist.train.labels == std::vector<int32_t>{0, 3, 6, 9, 2});
  CHECK(mnist.train.pixels[28 * 28 + 1] == (28 * 28 + 1) % 251);
  CHECK(mnist.test.class_names[7] == "7");
  const TrainTest fashion = load_dataset("fashion-mnist", dir.string());
  CHECK(fashion.train.name == "fashion-mnist");
  REQUIRE(fashion.test.class_names.size() == 10);
  CHECK(fashion.test.class_names[0] == "T-shirt/top");
  CHECK(fashion.test.class_names[9] == "Ankle boot");

  fs::remove(dir / "t10k-labels-idx1-ubyte");
  fs::remove(dir / "train-images-idx3-ubyte.gz");
  CHECK_THROWS_WITH(
      load_dataset("mnist", dir.string()),
      Catch::Contains(dir.string() + ": missing train-images-idx3-ubyte, t10k-labels-idx1-ubyte"));
  const fs::path small = fresh_dir("idx8");
  write_idx_set(small, 2, 2, 8);
  CHECK_THROWS_WITH(load_dataset("mnist", small.string()),
                    Catch::Contains("train split has 1x8x8 images, expected 1x28x28 for mnist"));
  CHECK_THROWS_WITH(load_dataset("mnist", (dir / "absent").string()),
                    Catch::Contains("absent: no such directory"));
}

TEST_CASE("load_dataset reads CIFAR-10 batches or image folders", "[data][datasets]") {
  SECTION("binary batches in dir, or in dir/cifar-10-batches-bin") {
    for (const char* sub : {"", "cifar-10-batches-bin"}) {
      const fs::path dir = fresh_dir("cifar_bin");
      write_cifar_batches(dir / sub, 3);
      const TrainTest data = load_dataset("cifar10", dir.string());
      CHECK(data.train.size() == 15);
      CHECK(data.test.size() == 2);
      CHECK(data.train.labels[14] == 4);
      CHECK(data.train.pixels[14 * 3072 + 5] == 14 + 5);
      CHECK(data.test.name == "cifar10");
      CHECK(data.test.class_names == cifar10_class_names());
    }
  }
  SECTION("a missing batch is an error, not a smaller set") {
    const fs::path dir = fresh_dir("cifar_partial");
    write_cifar_batches(dir, 1);
    fs::remove(dir / "data_batch_4.bin");
    CHECK_THROWS_WITH(load_dataset("cifar10", dir.string()),
                      Catch::Contains("data_batch_4.bin: file not found"));
  }
  SECTION("image folders dir/{train,test} or dir/cifar10-jpeg/{train,test}") {
    for (const char* sub : {"", "cifar10-jpeg"}) {
      const fs::path dir = fresh_dir("cifar_folder");
      write_cifar_folder(dir / sub / "train", cifar10_class_names());
      write_cifar_folder(dir / sub / "test", cifar10_class_names());
      const TrainTest data = load_dataset("cifar10", dir.string());
      REQUIRE(data.train.size() == 10);
      CHECK(data.test.size() == 10);
      for (int k = 0; k < 10; ++k) {
        CHECK(data.train.labels[static_cast<size_t>(k)] == k);
        CHECK(data.train.pixels[static_cast<size_t>(k) * 3072 + 2000] == 10 * k);
      }
      CHECK(data.train.class_names == cifar10_class_names());
      CHECK(data.train.name == "cifar10");
    }
  }
  SECTION("image folders must be the ten CIFAR-10 classes") {
    const fs::path dir = fresh_dir("cifar_wrong");
    std::vector<std::string> classes = cifar10_class_names();
    classes[3] = "kitten";
    write_cifar_folder(dir / "train", classes);
    write_cifar_folder(dir / "test", cifar10_class_names());
    CHECK_THROWS_WITH(load_dataset("cifar10", dir.string()),
                      Catch::Contains("train: class folders airplane automobile bird deer") &&
                          Catch::Contains("expected the ten CIFAR-10 classes"));
    fs::remove_all(dir / "train");
    write_cifar_folder(dir / "train", {"airplane", "automobile"});
    CHECK_THROWS_WITH(load_dataset("cifar10", dir.string()),
                      Catch::Contains("train: class folders airplane automobile;"));
  }
  SECTION("no layout at all") {
    const fs::path dir = fresh_dir("cifar_none");
    CHECK_THROWS_WITH(
        load_dataset("cifar10", dir.string()),
        Catch::Contains(dir.string() + ": no CIFAR-10 data; expected data_batch_1.bin") &&
            Catch::Contains("cifar10-jpeg"));
  }
}

TEST_CASE("load_dataset reads SVHN .mat files", "[data][datasets]") {
  const fs::path dir = fresh_dir("svhn");
  write_svhn(dir / "train_32x32.mat", 12);
  write_svhn(dir / "test_32x32.mat", 3);
  const TrainTest data = load_dataset("svhn", dir.string());
  CHECK(data.train.size() == 12);
  CHECK(data.test.size() == 3);
  CHECK(data.train.labels[0] == 0);  // 10 is the digit 0
  CHECK(data.train.labels[11] == 1);
  CHECK(data.train.pixels[11 * 3072 + 77] == 11);
  CHECK(data.test.name == "svhn");
  CHECK(data.test.class_names[0] == "0");
  fs::remove(dir / "test_32x32.mat");
  CHECK_THROWS_WITH(load_dataset("svhn", dir.string()),
                    Catch::Contains("test_32x32.mat: file not found"));
  fs::remove(dir / "train_32x32.mat");
  CHECK_THROWS_WITH(load_dataset("svhn", dir.string()),
                    Catch::Contains(dir.string() +
                                    ": no SVHN data; expected train_32x32.mat and test_32x32.mat"));
  CHECK_THROWS_WITH(load_dataset("caltech", dir.string()),
                    Catch::Contains("unknown data set 'caltech'"));
}

TEST_CASE("the real MNIST and Fashion-MNIST load through load_dataset", "[data][datasets][real]") {
  const fs::path mnist = fs::path(LOWBIT_SHARED_DATA) / "mnist";
  if (fs::is_directory(mnist)) {
    const TrainTest data = load_dataset("mnist", mnist.string());
    CHECK(data.train.size() == 60000);
    CHECK(data.test.size() == 10000);
    CHECK(class_counts(data.test)[1] == 1135);
    check_stats_against_table(data.train, 0.0005);
  } else {
    WARN("skipped real MNIST: " << mnist << " is not present");
  }
  const fs::path fashion = "/usr/share/datasets/fashion-mnist";
  if (fs::is_directory(fashion)) {
    const TrainTest data = load_dataset("fashion-mnist", fashion.string());
    CHECK(data.train.size() == 60000);
    CHECK(data.test.size() == 10000);
    CHECK(class_counts(data.train) == std::vector<int>(10, 6000));
    CHECK(class_counts(data.test) == std::vector<int>(10, 1000));
    check_stats_against_table(data.train, 0.0005);
  } else {
    WARN("skipped real Fashion-MNIST: "
         << fashion << " is not installed (apt-get install dataset-fashion-mnist)");
  }
}

TEST_CASE("the real CIFAR-10 JPEG copy loads through load_dataset", "[data][datasets][real]") {
  const fs::path tarball = fs::path(LOWBIT_SHARED_DATA) / "cifar10-jpeg.tar.gz";
  if (!fs::is_regular_file(tarball)) {
    WARN("skipped real CIFAR-10: " << tarball << " is not present");
    return;
  }
  if (std::system("command -v tar > /dev/null 2>&1") != 0) {
    WARN("skipped real CIFAR-10: tar is not installed");
    return;
  }
  // 60,000 small files: on tmpfs extraction takes seconds, on a busy disk it can take minutes.
  const bool shm = ::access("/dev/shm", W_OK) == 0;
  const fs::path dir =
      shm ? fs::path("/dev/shm") / ("lowbit_datasets_test_cifar_" + std::to_string(::getpid()))
          : fresh_dir("cifar_real");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string command = "tar -xzf '" + tarball.string() + "' -C '" + dir.string() + "'";
  const int status = std::system(command.c_str());
  if (status != 0) fs::remove_all(dir);
  REQUIRE(status == 0);
  TrainTest data;
  try {
    data = load_dataset("cifar10", dir.string());
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
  fs::remove_all(dir);
  CHECK(data.train.size() == 50000);
  CHECK(data.test.size() == 10000);
  CHECK(class_counts(data.train) == std::vector<int>(10, 5000));
  CHECK(class_counts(data.test) == std::vector<int>(10, 1000));
  check_stats_against_table(data.train, 0.003);  // the JPEG copy is lossy
}
