// Image folders: list and sort the files serially, then decode them in parallel, each image
// into its own slot of the pixel buffer, so that the result is the same on any thread count.
#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "core/parallel.h"

namespace lowbit {
namespace fs = std::filesystem;
namespace {

bool is_image_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

bool is_hidden(const fs::path& path) { return path.filename().string().rfind('.', 0) == 0; }

std::vector<std::string> sorted_entries(const fs::path& dir, bool directories) {
  std::vector<std::string> names;
  try {
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (is_hidden(entry.path())) continue;
      if (directories ? entry.is_directory()
                      : (entry.is_regular_file() && is_image_name(entry.path())))
        names.push_back(entry.path().filename().string());
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(concat(dir.string(), ": cannot list (", e.code().message(), ")"));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Reads a whole file into `bytes` (reused between files); false when it cannot be read.
bool read_file(const std::string& path, std::vector<uint8_t>& bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  const std::streamoff size = in.tellg();
  if (size < 0) return false;
  bytes.resize(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  return in.gcount() == size;
}

uint32_t little_endian_u32(const std::vector<uint8_t>& b, size_t offset) {
  return uint32_t{b[offset]} | (uint32_t{b[offset + 1]} << 8) | (uint32_t{b[offset + 2]} << 16) |
         (uint32_t{b[offset + 3]} << 24);
}

// stb_image reads past the end of a truncated JPEG or BMP as zeros and reports success, so
// those two are checked here. A JPEG's entropy-coded data byte-stuffs 0xFF (FF 00), so the
// markers SOS (FF DA) and EOI (FF D9) appear only as markers: a complete file has an EOI
// after its last SOS. An uncompressed BMP needs offset + |height| * padded row bytes.
std::string truncation_problem(const std::vector<uint8_t>& b) {
  const size_t n = b.size();
  if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
    size_t last_sos = 0, last_eoi = 0;
    for (size_t i = 2; i + 1 < n; ++i) {
      if (b[i] != 0xFF) continue;
      if (b[i + 1] == 0xDA) last_sos = i;
      if (b[i + 1] == 0xD9) last_eoi = i;
    }
    if (last_sos == 0 || last_eoi < last_sos)
      return "truncated JPEG (no end-of-image marker after the last scan)";
  } else if (n >= 2 && b[0] == 'B' && b[1] == 'M') {
    if (n < 34) return "truncated BMP header";
    const uint64_t offset = little_endian_u32(b, 10);
    const int64_t width = static_cast<int32_t>(little_endian_u32(b, 18));
    const int64_t height = static_cast<int32_t>(little_endian_u32(b, 22));
    const uint64_t bits = uint32_t{b[28]} | (uint32_t{b[29]} << 8);
    const uint32_t compression = little_endian_u32(b, 30);
    if (compression == 0 || compression == 3) {  // BI_RGB, BI_BITFIELDS: rows padded to 4 bytes
      const uint64_t row_bytes = (static_cast<uint64_t>(std::abs(width)) * bits + 31) / 32 * 4;
      const uint64_t needed = offset + row_bytes * static_cast<uint64_t>(std::abs(height));
      if (n < needed) return concat("truncated BMP (", n, " bytes, its header needs ", needed, ")");
    }
  }
  return "";
}

// Decodes one file into out (C, H, W); returns the problem, or "" on success.
std::string decode_into(const std::string& path, int64_t channels, int64_t height, int64_t width,
                        std::vector<uint8_t>& bytes, uint8_t* out) {
  if (!read_file(path, bytes)) return concat(path, ": cannot read");
  if (bytes.empty()) return concat(path, ": empty file, expected a PNG, JPEG or BMP image");
  const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  int w = 0, h = 0, file_channels = 0;
  // The header first: a wrong size is reported without decoding (or allocating) the image.
  if (!stbi_info_from_memory(bytes.data(), length, &w, &h, &file_channels))
    return concat(path, ": cannot decode (", stbi_failure_reason(),
                  "); expected a PNG, JPEG or BMP image");
  if (h != height || w != width)
    return concat(path, ": image is ", h, "x", w, " (height x width), expected ", height, "x",
                  width);
  const std::string truncated = truncation_problem(bytes);
  if (!truncated.empty()) return concat(path, ": ", truncated);
  stbi_uc* decoded = stbi_load_from_memory(bytes.data(), length, &w, &h, &file_channels,
                                           static_cast<int>(channels));
  if (decoded == nullptr)
    return concat(path, ": cannot decode (", stbi_failure_reason(),
                  "); expected a PNG, JPEG or BMP image");
  if (h != height || w != width) {
    stbi_image_free(decoded);
    return concat(path, ": decoded to ", h, "x", w, ", expected ", height, "x", width);
  }
  // stb gives (H, W, C) interleaved; Dataset keeps (C, H, W) planes.
  const int64_t plane = height * width;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < channels; ++c) out[c * plane + p] = decoded[p * channels + c];
  stbi_image_free(decoded);
  return "";
}

}  // namespace

Dataset load_image_folder(const std::string& root, int64_t channels, int64_t expected_side) {
  LOWBIT_CHECK(channels >= 1 && channels <= 4, root, ": ", channels,
               " channels requested, expected 1 to 4");
  LOWBIT_CHECK(expected_side >= 0, root, ": expected side ", expected_side, " is negative");
  LOWBIT_CHECK(fs::is_directory(root), root,
               ": not a directory (expected ROOT/<class>/*.png|jpg|jpeg|bmp)");
  Dataset d;
  d.name = fs::path(root).filename().string();
  d.class_names = sorted_entries(root, /*directories=*/true);
  LOWBIT_CHECK(!d.class_names.empty(), root,
               ": no class folders, expected ROOT/<class>/*.png|jpg|jpeg|bmp");
  std::vector<std::string> files;
  for (size_t k = 0; k < d.class_names.size(); ++k) {
    const fs::path class_dir = fs::path(root) / d.class_names[k];
    const std::vector<std::string> names = sorted_entries(class_dir, /*directories=*/false);
    LOWBIT_CHECK(!names.empty(), class_dir.string(),
                 ": empty class folder, expected *.png|jpg|jpeg|bmp images");
    for (const std::string& name : names) {
      files.push_back((class_dir / name).string());
      d.labels.push_back(static_cast<int32_t>(k));
    }
  }

  // The size every image must have: the requested side, else the first image's.
  int64_t height = expected_side, width = expected_side;
  if (expected_side == 0) {
    std::vector<uint8_t> bytes;
    int w = 0, h = 0, c = 0;
    LOWBIT_CHECK(read_file(files[0], bytes), files[0], ": cannot read");
    const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
    LOWBIT_CHECK(!bytes.empty() && stbi_info_from_memory(bytes.data(), length, &w, &h, &c),
                 files[0], ": cannot decode (",
                 bytes.empty() ? "empty file" : stbi_failure_reason(),
                 "); expected a PNG, JPEG or BMP image");
    height = h;
    width = w;
  }
  d.channels = channels;
  d.height = height;
  d.width = width;
  const int64_t n = static_cast<int64_t>(files.size());
  const int64_t image_bytes = d.image_bytes();
  d.pixels.resize(static_cast<size_t>(n * image_bytes));

  // Each image writes only its own slot and its own error; the first error in file order
  // is reported, so the outcome is the same whatever the thread count.
  std::vector<std::string> errors(static_cast<size_t>(n));
  parallel_for(n, 64, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> bytes;
    for (int64_t i = begin; i < end; ++i) {
      const size_t s = static_cast<size_t>(i);
      try {
        errors[s] = decode_into(files[s], channels, height, width, bytes,
                                d.pixels.data() + i * image_bytes);
      } catch (const std::exception& e) {  // e.g. bad_alloc: never let it leave the parallel region
        errors[s] = concat(files[s], ": ", e.what());
      }
    }
  });
  for (const std::string& error : errors) LOWBIT_CHECK(error.empty(), error);
  return d;
}

}  // namespace lowbit
