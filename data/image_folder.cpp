// Image folders: list and sort the files serially, check every image's header in parallel, then
// allocate the pixel buffer and decode in parallel, each image into its own slot, so that the
// result is the same on any thread count and no image's header can make the buffer larger than the
// images it holds.
#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "core/check.h"
#include "core/input_file.h"
#include "core/parallel.h"

namespace lowbit {
namespace fs = std::filesystem;
namespace {

// The largest side accepted: a plausibility bound on a training image (stb's own is 2^24), so that
// a header cannot size the pixel buffer at will.
constexpr int64_t kMaxSide = 8192;

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
      // An image name on something that is not a regular file (a directory, a FIFO, a link to
      // /dev/zero) is kept, and refused by name when it is read.
      if (directories ? entry.is_directory() : is_image_name(entry.path()))
        names.push_back(entry.path().filename().string());
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(concat(dir.string(), ": cannot list (", e.code().message(), ")"));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Reads a whole file into `bytes` (reused between files); returns the problem, or "" on success.
std::string read_file(const std::string& path, std::vector<uint8_t>& bytes) {
  try {
    InputFile file(path, "a PNG, JPEG or BMP image");
    bytes.resize(static_cast<size_t>(file.size()));
    file.read(bytes.data(), bytes.size());
    return "";
  } catch (const Error& e) {  // it names the file and what is wrong
    return e.what();
  }
}

// The format a file's first bytes announce: "PNG", "JPEG", "BMP", or nullptr for none of them.
const char* image_format(const std::vector<uint8_t>& b) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 8 && std::equal(kPng, kPng + 8, b.begin())) return "PNG";
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
  return nullptr;
}

// Why stb cannot read a file, in the terms of the format its signature names. stb's
// stbi_info tries every format in turn and leaves the last one's reason ("bad png sig" for a
// damaged JPEG); stbi_load goes to the format the signature names, and fails in its header before
// allocating anything. `loaded`: stbi_load failed last, and its reason is the format's own.
std::string decode_problem(const std::vector<uint8_t>& bytes, int length, bool loaded) {
  const char* format = image_format(bytes);
  if (format == nullptr) {
    static const char kHex[] = "0123456789abcdef";
    std::string start;
    for (size_t i = 0; i < std::min<size_t>(bytes.size(), 4); ++i)
      start += std::string(i ? " " : "") + kHex[bytes[i] >> 4] + kHex[bytes[i] & 15];
    return concat("not a PNG, JPEG or BMP image: it starts with the bytes ", start);
  }
  int w = 0, h = 0, c = 0;
  stbi_uc* decoded = loaded ? nullptr : stbi_load_from_memory(bytes.data(), length, &w, &h, &c, 0);
  if (decoded != nullptr) {
    stbi_image_free(decoded);
    return concat("a ", format, " header stb_image does not read");
  }
  return concat("damaged ", format, ": ", stbi_failure_reason());
}

// stb_image 2.27 (Debian 12's) trusts a JPEG's Huffman tables: it builds one from its 16 code
// counts without checking that they add up to at most 256, and writes past the table
// (CVE-2021-37789), and it decodes a scan with any of its four DC and four AC tables, defined or
// not, indexing far out of bounds with one it never initialized (both found by the image_folder
// fuzz target). Every DHT segment's tables are checked here before stb sees the file, and so are
// the tables each scan uses, walking the file as stb would read it: segments skipped by their
// length (SOS's scan data byte by byte), bytes beyond the file read as zeros.
std::string huffman_table_problem(const std::vector<uint8_t>& b) {
  const size_t n = b.size();
  if (n < 2 || b[0] != 0xFF || b[1] != 0xD8) return "";  // not a JPEG
  auto at = [&](size_t i) -> size_t { return i < n ? b[i] : 0; };
  bool defined[2][4] = {};  // [DC, AC][table]
  for (size_t i = 2; i + 1 < n;) {
    const uint8_t marker = b[i + 1];
    if (b[i] != 0xFF || marker == 0xFF) {  // scan data, or a fill byte before a marker
      ++i;
    } else if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      i += 2;  // a stuffed 0xFF in scan data, TEM, RSTn, SOI: no length
    } else if (marker == 0xD9) {
      break;  // EOI
    } else {
      const size_t end = i + 2 + (at(i + 2) << 8 | at(i + 3));
      for (size_t t = i + 4; marker == 0xC4 && t < end;) {  // DHT: class and id, 16 counts, codes
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += at(t + k);
        if (codes > 256)
          return concat("damaged JPEG: a Huffman table of ", codes, " codes, at most 256");
        if (at(t) >> 4 <= 1 && (at(t) & 15) <= 3) defined[at(t) >> 4][at(t) & 15] = true;
        t += 17 + codes;
      }
      if (marker == 0xDA) {  // SOS: components (id, DC table << 4 | AC table), Ss, Se, Ah << 4 | Al
        const size_t components = at(i + 4), after = i + 5 + 2 * components;
        // A first DC scan or a baseline one decodes DC coefficients, any scan past Ss = 0 AC ones.
        const bool dc = at(after) == 0 && (at(after + 2) >> 4) == 0, ac = at(after + 1) > 0;
        for (size_t k = 0; k < components; ++k) {
          const size_t tables = at(i + 6 + 2 * k), dc_table = tables >> 4, ac_table = tables & 15;
          if (dc && dc_table <= 3 && !defined[0][dc_table])
            return concat("damaged JPEG: a scan uses DC Huffman table ", dc_table,
                          ", which no DHT segment before it defines");
          if (ac && ac_table <= 3 && !defined[1][ac_table])
            return concat("damaged JPEG: a scan uses AC Huffman table ", ac_table,
                          ", which no DHT segment before it defines");
        }
      }
      i = std::max(end, i + 2);
    }
  }
  return "";
}

uint32_t big_endian_u32(const std::vector<uint8_t>& b, size_t offset) {
  return (uint32_t{b[offset]} << 24) | (uint32_t{b[offset + 1]} << 16) |
         (uint32_t{b[offset + 2]} << 8) | uint32_t{b[offset + 3]};
}

uint32_t little_endian_u32(const std::vector<uint8_t>& b, size_t offset) {
  return uint32_t{b[offset]} | (uint32_t{b[offset + 1]} << 8) | (uint32_t{b[offset + 2]} << 16) |
         (uint32_t{b[offset + 3]} << 24);
}

// stb_image reads past the end of a truncated JPEG or BMP as zeros and reports success, so
// those two are checked here. A JPEG's entropy-coded data byte-stuffs 0xFF (FF 00), so the
// markers SOS (FF DA) and EOI (FF D9) appear only as markers: a complete file has an EOI
// after its last SOS. An uncompressed BMP needs offset + |height| * padded row bytes. stb reports
// a PNG cut short, but it sizes its buffer for a chunk's data by the chunk's declared length before
// reading it (1 GiB for a 147-byte file, found by the image_folder fuzz target): every chunk
// (length, type, data, CRC) up to IEND must end inside the file.
std::string truncation_problem(const std::vector<uint8_t>& b) {
  const size_t n = b.size();
  if (n >= 8 && b[0] == 0x89 && b[1] == 'P') {
    for (uint64_t at = 8; at < n;) {
      const uint64_t length = at + 4 <= n ? big_endian_u32(b, at) : 0;
      const uint64_t end = at + 12 + length;
      if (end > n)
        return concat("truncated PNG (a chunk at byte ", at, " needs ", end,
                      " bytes, the file has ", n, ")");
      if (std::equal(b.begin() + static_cast<int64_t>(at) + 4,
                     b.begin() + static_cast<int64_t>(at) + 8, "IEND"))
        break;  // what follows the last chunk is not read
      at = end;
    }
  } else if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
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

// Reads a file and its header's height and width; returns the problem, or "" on success.
std::string read_header(const std::string& path, std::vector<uint8_t>& bytes, int& height,
                        int& width) {
  const std::string unreadable = read_file(path, bytes);
  if (!unreadable.empty()) return unreadable;
  if (bytes.empty()) return concat(path, ": empty file, expected a PNG, JPEG or BMP image");
  const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  // stb_image also decodes GIF, PSD, TGA, HDR, PIC and PNM, trying each format in turn. A file
  // reaches it only when its signature names PNG, JPEG or BMP, which stb then hands to that
  // format's decoder alone: the others, of no use to lowbit and where memory-safety bugs keep being
  // found, never see a file.
  if (image_format(bytes) == nullptr)
    return concat(path, ": cannot decode (", decode_problem(bytes, length, false), ")");
  const std::string table = huffman_table_problem(bytes);
  if (!table.empty()) return concat(path, ": cannot decode (", table, ")");
  int channels = 0;
  if (!stbi_info_from_memory(bytes.data(), length, &width, &height, &channels))
    return concat(path, ": cannot decode (", decode_problem(bytes, length, false), ")");
  return "";
}

// Reads a file and checks, without decoding it, that it holds a whole height x width image;
// returns the problem, or "" on success.
std::string check_image(const std::string& path, int64_t height, int64_t width,
                        std::vector<uint8_t>& bytes) {
  int h = 0, w = 0;
  const std::string unreadable = read_header(path, bytes, h, w);
  if (!unreadable.empty()) return unreadable;
  if (h != height || w != width)
    return concat(path, ": image is ", h, "x", w, " (height x width), expected ", height, "x",
                  width);
  const std::string truncated = truncation_problem(bytes);
  if (!truncated.empty()) return concat(path, ": ", truncated);
  return "";
}

// Decodes one file into out (C, H, W); returns the problem, or "" on success.
std::string decode_into(const std::string& path, int64_t channels, int64_t height, int64_t width,
                        std::vector<uint8_t>& bytes, uint8_t* out) {
  const std::string problem = check_image(path, height, width, bytes);
  if (!problem.empty()) return problem;
  const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  int w = 0, h = 0, file_channels = 0;
  stbi_uc* decoded = stbi_load_from_memory(bytes.data(), length, &w, &h, &file_channels,
                                           static_cast<int>(channels));
  if (decoded == nullptr)
    return concat(path, ": cannot decode (", decode_problem(bytes, length, true), ")");
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

// Runs problem_of(i, bytes) for every file in parallel and throws the first problem in file
// order, so that the error is the same whatever the thread count.
template <class ProblemOf>
void for_each_file(const std::vector<std::string>& files, const ProblemOf& problem_of) {
  const int64_t n = static_cast<int64_t>(files.size());
  std::vector<std::string> errors(files.size());
  parallel_for(n, 64, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> bytes;
    for (int64_t i = begin; i < end; ++i) {
      const size_t s = static_cast<size_t>(i);
      try {
        errors[s] = problem_of(i, bytes);
      } catch (const std::exception& e) {  // e.g. bad_alloc: never let it leave the parallel region
        errors[s] = concat(files[s], ": ", e.what());
      }
    }
  });
  for (const std::string& error : errors) LOWBIT_CHECK(error.empty(), error);
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
    int h = 0, w = 0;
    const std::string problem = read_header(files[0], bytes, h, w);
    LOWBIT_CHECK(problem.empty(), problem);
    height = h;
    width = w;
  }
  LOWBIT_CHECK(height <= kMaxSide && width <= kMaxSide, expected_side == 0 ? files[0] : root,
               ": image size ", height, "x", width, " is larger than ", kMaxSide,
               " per side; expected training images");
  // stb reports a BMP's width as its header's signed field, negative ones too (found by the
  // image_folder fuzz target: the pixel buffer's size went negative).
  LOWBIT_CHECK(height >= 1 && width >= 1, files[0], ": image size ", height, "x", width,
               " has a side below 1");
  // Every header before the buffer: one image's header alone must not size it for all of them.
  for_each_file(files, [&](int64_t i, std::vector<uint8_t>& bytes) {
    return check_image(files[static_cast<size_t>(i)], height, width, bytes);
  });

  d.channels = channels;
  d.height = height;
  d.width = width;
  const int64_t image_bytes = d.image_bytes();
  d.pixels.resize(static_cast<size_t>(static_cast<int64_t>(files.size()) * image_bytes));
  for_each_file(files, [&](int64_t i, std::vector<uint8_t>& bytes) {
    return decode_into(files[static_cast<size_t>(i)], channels, height, width, bytes,
                       d.pixels.data() + i * image_bytes);
  });
  return d;
}

}  // namespace lowbit
