// CIFAR-10 binary batches: each record is copied as is (its planes are already C, H, W).
#include "data/cifar10.h"

#include <algorithm>
#include <filesystem>

#include "core/check.h"
#include "core/input_file.h"

namespace lowbit {
namespace {

constexpr int64_t kSide = 32, kChannels = 3, kImageBytes = kChannels * kSide * kSide,
                  kRecordBytes = 1 + kImageBytes;
constexpr int kNumClasses = 10;
constexpr const char* kWhat = "a CIFAR-10 binary batch";

// Appends the records of one batch file to d.
void append_batch(const std::string& path, Dataset& d) {
  InputFile file(path, kWhat);
  // The size first: a file that is not a whole number of records is refused before it is read.
  LOWBIT_CHECK(file.size() > 0 && file.size() % kRecordBytes == 0, path, ": ", file.size(),
               " bytes, expected a positive multiple of ", kRecordBytes,
               " (CIFAR-10 records of 1 label + 3072 pixel bytes; truncated or not a batch file)");
  const std::vector<uint8_t> bytes = file.read_all();
  const size_t records = bytes.size() / kRecordBytes;
  const size_t first = d.labels.size();
  d.labels.resize(first + records);
  d.pixels.resize((first + records) * kImageBytes);
  for (size_t r = 0; r < records; ++r) {
    const uint8_t* record = bytes.data() + r * kRecordBytes;
    LOWBIT_CHECK(record[0] < kNumClasses, path, ": label ", int{record[0]}, " in record ", r,
                 " is out of range [0, 10)");
    d.labels[first + r] = record[0];
    std::copy(record + 1, record + kRecordBytes,
              d.pixels.begin() + static_cast<int64_t>((first + r) * kImageBytes));
  }
}

}  // namespace

Dataset load_cifar10_binary(const std::string& dir, bool train) {
  const std::filesystem::path root(dir);
  LOWBIT_CHECK(std::filesystem::is_directory(root), dir,
               ": not a directory (expected the CIFAR-10 binary batches)");
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i)
      files.push_back((root / ("data_batch_" + std::to_string(i) + ".bin")).string());
  } else {
    files.push_back((root / "test_batch.bin").string());
  }
  // Every batch must be there before any is read: a missing one is an error, never a smaller set.
  uint64_t total_bytes = 0;
  for (const std::string& file : files) {
    std::error_code ignored;
    LOWBIT_CHECK(std::filesystem::exists(file, ignored), file,
                 ": file not found (a CIFAR-10 binary batch; ",
                 train ? "training needs data_batch_1.bin .. data_batch_5.bin"
                       : "the test split is test_batch.bin",
                 ")");
    total_bytes += regular_file_size(file, kWhat);  // a directory or a device is refused by name
  }
  Dataset d;
  d.labels.reserve(total_bytes / kRecordBytes);
  d.pixels.reserve(total_bytes / kRecordBytes * kImageBytes);
  d.name = "cifar10";
  d.channels = kChannels;
  d.height = kSide;
  d.width = kSide;
  for (const std::string& file : files) append_batch(file, d);
  d.class_names = cifar10_class_names();
  return d;
}

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

}  // namespace lowbit
