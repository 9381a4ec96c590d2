// IDX reader on zlib's gzread (which also reads uncompressed files transparently).
#include "data/idx.h"

#include <zlib.h>

#include <filesystem>

#include "core/check.h"

namespace lowbit {
namespace {

uint32_t big_endian_u32(const std::vector<uint8_t>& b, size_t offset) {
  return (uint32_t{b[offset]} << 24) | (uint32_t{b[offset + 1]} << 16) |
         (uint32_t{b[offset + 2]} << 8) | uint32_t{b[offset + 3]};
}

constexpr uint32_t kImagesMagic = 0x00000803, kLabelsMagic = 0x00000801;

}  // namespace

std::vector<uint8_t> read_maybe_gzipped(const std::string& path) {
  std::string actual = path;
  if (!std::filesystem::exists(actual) && std::filesystem::exists(path + ".gz"))
    actual = path + ".gz";
  LOWBIT_CHECK(std::filesystem::is_regular_file(actual), path, ": file not found (also looked for ",
               path, ".gz)");
  gzFile f = gzopen(actual.c_str(), "rb");
  LOWBIT_CHECK(f != nullptr, actual, ": cannot open");
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof buffer)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
  int error = 0;
  const char* message = n < 0 ? gzerror(f, &error) : nullptr;
  const std::string reason = message ? message : "";
  gzclose(f);
  LOWBIT_CHECK(n == 0, actual, ": read failed (", reason,
               "); expected a plain or gzip-compressed file");
  return bytes;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path, int num_classes) {
  const std::vector<uint8_t> images = read_maybe_gzipped(images_path);
  const std::vector<uint8_t> labels = read_maybe_gzipped(labels_path);
  LOWBIT_CHECK(images.size() >= 4, images_path, ": ", images.size(),
               " bytes, too short for an IDX header");
  LOWBIT_CHECK(labels.size() >= 4, labels_path, ": ", labels.size(),
               " bytes, too short for an IDX header");
  const uint32_t image_magic = big_endian_u32(images, 0), label_magic = big_endian_u32(labels, 0);
  LOWBIT_CHECK(image_magic == kImagesMagic, images_path, ": magic number ", image_magic,
               ", expected ", kImagesMagic, " (IDX images)");
  LOWBIT_CHECK(label_magic == kLabelsMagic, labels_path, ": magic number ", label_magic,
               ", expected ", kLabelsMagic, " (IDX labels)");
  LOWBIT_CHECK(images.size() >= 16, images_path, ": ", images.size(),
               " bytes, too short for an IDX image header (16)");
  LOWBIT_CHECK(labels.size() >= 8, labels_path, ": ", labels.size(),
               " bytes, too short for an IDX label header (8)");
  const uint64_t count = big_endian_u32(images, 4), rows = big_endian_u32(images, 8),
                 cols = big_endian_u32(images, 12);
  const uint64_t label_count = big_endian_u32(labels, 4);
  LOWBIT_CHECK(rows > 0 && cols > 0 && rows <= 4096 && cols <= 4096, images_path, ": image size ",
               rows, "x", cols, " is not plausible");
  LOWBIT_CHECK(images.size() == 16 + count * rows * cols, images_path, ": ", images.size() - 16,
               " bytes of pixels, expected ", count, " x ", rows, " x ", cols, " = ",
               count * rows * cols, " (truncated or trailing data)");
  LOWBIT_CHECK(labels.size() == 8 + label_count, labels_path, ": ", labels.size() - 8,
               " label bytes, expected ", label_count);
  LOWBIT_CHECK(label_count == count, labels_path, ": ", label_count, " labels for ", count,
               " images in ", images_path);
  Dataset d;
  d.channels = 1;
  d.height = static_cast<int64_t>(rows);
  d.width = static_cast<int64_t>(cols);
  d.pixels.assign(images.begin() + 16, images.end());
  d.labels.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    const int label = labels[8 + i];
    LOWBIT_CHECK(label < num_classes, labels_path, ": label ", label, " at index ", i,
                 " is out of range [0, ", num_classes, ")");
    d.labels[i] = label;
  }
  for (int k = 0; k < num_classes; ++k) d.class_names.push_back(std::to_string(k));
  return d;
}

}  // namespace lowbit
