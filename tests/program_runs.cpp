// Running programs and writing small MNIST-format data sets for the end-to-end tests.
#include "tests/program_runs.h"

#include <sys/wait.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/rng.h"

namespace lowbit::testing {
namespace fs = std::filesystem;
namespace {

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

}  // namespace

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::vector<double>> read_csv_numbers(const fs::path& path, size_t columns) {
  std::stringstream in(read_text(path));
  std::string line;
  std::getline(in, line);  // the header
  std::vector<std::vector<double>> rows;
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',') && row.size() < columns) row.push_back(std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

void write_mnist_idx(const fs::path& dir, const std::string& prefix,
                     const std::vector<uint8_t>& pixels, const std::vector<uint8_t>& labels) {
  const uint32_t count = static_cast<uint32_t>(labels.size());
  REQUIRE(pixels.size() == size_t{count} * 28 * 28);
  std::vector<uint8_t> images, label_file;
  put_u32(images, 0x803), put_u32(images, count), put_u32(images, 28), put_u32(images, 28);
  images.insert(images.end(), pixels.begin(), pixels.end());
  put_u32(label_file, 0x801), put_u32(label_file, count);
  label_file.insert(label_file.end(), labels.begin(), labels.end());
  write_gz(dir / (prefix + "-images-idx3-ubyte.gz"), images);
  write_gz(dir / (prefix + "-labels-idx1-ubyte.gz"), label_file);
}

void write_class_bars(const fs::path& dir, const std::string& prefix, uint32_t count, uint64_t seed,
                      const BarLook& look) {
  Rng rng(seed);
  std::vector<uint8_t> pixels, labels;
  for (uint32_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(i % 10);
    labels.push_back(static_cast<uint8_t>(label));
    const int top = 2 + (label / 5) * 12 + static_cast<int>(rng.below(3)),
              left = 2 + (label % 5) * 5;
    const int bright = look.base + (look.spread > 0 ? static_cast<int>(rng.below(look.spread)) : 0);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const bool inside = y >= top && y < top + 7 && x >= left && x < left + 4;
        pixels.push_back(static_cast<uint8_t>(inside
                                                  ? bright + static_cast<int>(rng.below(look.noise))
                                                  : static_cast<int>(rng.below(look.background))));
      }
  }
  write_mnist_idx(dir, prefix, pixels, labels);
}

void write_cifar_bars(const fs::path& dir, uint32_t per_batch, uint32_t test, uint64_t seed) {
  Rng rng(seed);
  auto records = [&](uint32_t count, uint32_t first) {
    std::vector<uint8_t> bytes;
    for (uint32_t i = first; i < first + count; ++i) {
      const int label = static_cast<int>(i % 10);
      bytes.push_back(static_cast<uint8_t>(label));
      const int top = 2 + (label / 5) * 14 + static_cast<int>(rng.below(3)),
                left = 2 + (label % 5) * 6;
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x) {
            const bool inside =
                c == label % 3 && y >= top && y < top + 8 && x >= left && x < left + 5;
            bytes.push_back(static_cast<uint8_t>(inside ? 180 + static_cast<int>(rng.below(70))
                                                        : static_cast<int>(rng.below(80))));
          }
    }
    return bytes;
  };
  auto write = [&dir](const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  };
  for (uint32_t b = 0; b < 5; ++b)
    write("data_batch_" + std::to_string(b + 1) + ".bin", records(per_batch, b * per_batch));
  write("test_batch.bin", records(test, 0));
}

bool python_imports(const std::string& module, const std::string& debian_package) {
  if (run_command("/usr/bin/python3 -c 'import " + module + "' 2>&1").status == 0) return true;
  WARN("skipped: /usr/bin/python3 cannot import " << module << " (Debian: apt-get install "
                                                  << debian_package << ")");
  return false;
}

}  // namespace lowbit::testing
