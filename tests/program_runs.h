// Support for the end-to-end tests that run the programs as a user does: run a command and
// capture its output and exit status, read a file, and write small MNIST-format data sets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lowbit::testing {

struct CommandResult {
  int status = -1;     // the exit status, -1 when the program did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell.
CommandResult run_command(const std::string& command);

std::string read_text(const std::filesystem::path& path);

// The rows of a CSV file of numbers after its header line, each cut to its first `columns` cells
// (metrics.csv without its timing columns).
std::vector<std::vector<double>> read_csv_numbers(const std::filesystem::path& path,
                                                  size_t columns);

// Whether /usr/bin/python3 imports `module`. When it does not, WARNs that the test is skipped and
// names the Debian package that provides it.
bool python_imports(const std::string& module, const std::string& debian_package);

// How many times `what` occurs in `text` (overlaps counted).
inline size_t count_occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// Writes DIR/PREFIX-images-idx3-ubyte.gz and DIR/PREFIX-labels-idx1-ubyte.gz (MNIST's names and
// IDX format, gzip-compressed) for count = labels.size() images of 28x28 `pixels`.
void write_mnist_idx(const std::filesystem::path& dir, const std::string& prefix,
                     const std::vector<uint8_t>& pixels, const std::vector<uint8_t>& labels);

// How the images of write_class_bars look: a 7x4 bar of brightness base + U[0, spread) per
// image + U[0, noise) per pixel, on a background of U[0, background) per pixel.
struct BarLook {
  int base = 200, spread = 0, noise = 56, background = 60;
};

// `count` images of ten classes (label i % 10): the bar sits at a class-specific place (with
// a random vertical jitter of 0-2 pixels), so that LeNet-5 learns them in an epoch or two.
void write_class_bars(const std::filesystem::path& dir, const std::string& prefix, uint32_t count,
                      uint64_t seed, const BarLook& look = {});

// CIFAR-10's binary layout in DIR (data_batch_1..5.bin, test_batch.bin) for `per_batch` training
// images in each of the five batches and `test` test images: the class bars of write_class_bars,
// in one of the three color planes per class (class k's bar in plane k % 3), on noise.
void write_cifar_bars(const std::filesystem::path& dir, uint32_t per_batch, uint32_t test,
                      uint64_t seed);

}  // namespace lowbit::testing
