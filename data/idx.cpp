// IDX reader on zlib's gzread (which also reads uncompressed files transparently). Both headers are
// read and checked first (magic numbers, dimensions, the two counts, what the files can hold); then
// exactly the bytes the headers declare, and one more to see that the file ends there: a gzip file
// that inflates further (a bomb) is not inflated past that byte.
#include "data/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <new>

#include "core/check.h"
#include "core/input_file.h"

namespace lowbit {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803, kLabelsMagic = 0x00000801;
constexpr uint64_t kMaxSide = 4096;

// One IDX file, plain or gzip-compressed, read from the start.
class IdxFile {
 public:
  // `path` or, when only that exists, path.gz.
  explicit IdxFile(const std::string& path) {
    std::error_code ignored;
    path_ =
        !std::filesystem::exists(path, ignored) && std::filesystem::exists(path + ".gz", ignored)
            ? path + ".gz"
            : path;
    LOWBIT_CHECK(std::filesystem::exists(path_, ignored), path,
                 ": file not found (also looked for ", path, ".gz)");
    const InputFile file(path_, "an IDX file, plain or gzip-compressed");
    file_size_ = file.size();
    const int fd = ::dup(file.descriptor());
    LOWBIT_CHECK(fd >= 0, path_, ": cannot open");
    gz_ = gzdopen(fd, "rb");
    if (gz_ == nullptr) ::close(fd);
    LOWBIT_CHECK(gz_ != nullptr, path_, ": cannot open");
  }
  ~IdxFile() { gzclose(gz_); }
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;

  const std::string& path() const { return path_; }

  // Up to n bytes; fewer only at the end of the (inflated) file.
  size_t read_some(uint8_t* p, size_t n) {
    size_t done = 0;
    while (done < n) {
      const unsigned piece = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(gz_, p + done, piece);
      if (got < 0) {
        int error = 0;
        const char* message = gzerror(gz_, &error);
        throw Error(concat(path_, ": read failed (", message ? message : "unknown error",
                           "); expected a plain or gzip-compressed IDX file"));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  uint32_t big_endian_u32(uint64_t offset) {
    uint8_t b[4];
    const size_t got = read_some(b, 4);
    LOWBIT_CHECK(got == 4, path_, ": ", offset + got, " bytes, too short for an IDX header (",
                 offset == 0 ? "magic number" : "dimensions", " at byte ", offset, ")");
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }

  // The most body bytes the file can hold after its header: the rest of a plain file, 1032 times a
  // compressed one (kMaxDeflateRatio).
  uint64_t max_body_bytes(uint64_t header_bytes) {
    if (gzdirect(gz_)) return file_size_ >= header_bytes ? file_size_ - header_bytes : 0;
    return kMaxDeflateRatio * file_size_;
  }

  // Exactly `declared` bytes, then the end of the file. The buffer grows as bytes arrive rather
  // than at once from the header, so a header that promises more than the file holds costs only
  // what the file does hold.
  std::vector<uint8_t> body(uint64_t declared, const std::string& what) {
    std::vector<uint8_t> bytes;
    while (bytes.size() < declared) {
      const size_t old = bytes.size();
      bytes.resize(static_cast<size_t>(
          std::min<uint64_t>(declared, std::max<uint64_t>(2 * uint64_t{old}, 1 << 20))));
      const size_t got = read_some(bytes.data() + old, bytes.size() - old);
      LOWBIT_CHECK(got == bytes.size() - old, path_, ": ", old + got, " bytes of ", what,
                   ", expected ", declared, " (truncated)");
    }
    uint8_t extra;
    LOWBIT_CHECK(read_some(&extra, 1) == 0, path_, ": more than the ", declared, " bytes of ", what,
                 " its header declares (trailing data; not read further)");
    return bytes;
  }

 private:
  std::string path_;
  uint64_t file_size_ = 0;
  gzFile gz_ = nullptr;
};

Dataset read_idx(const std::string& images_path, const std::string& labels_path, int num_classes) {
  IdxFile images(images_path), labels(labels_path);
  const uint32_t image_magic = images.big_endian_u32(0);
  LOWBIT_CHECK(image_magic == kImagesMagic, images.path(), ": magic number ", image_magic,
               ", expected ", kImagesMagic, " (IDX images)");
  const uint32_t label_magic = labels.big_endian_u32(0);
  LOWBIT_CHECK(label_magic == kLabelsMagic, labels.path(), ": magic number ", label_magic,
               ", expected ", kLabelsMagic, " (IDX labels)");
  const uint64_t count = images.big_endian_u32(4), rows = images.big_endian_u32(8),
                 cols = images.big_endian_u32(12);
  const uint64_t label_count = labels.big_endian_u32(4);
  LOWBIT_CHECK(rows > 0 && cols > 0 && rows <= kMaxSide && cols <= kMaxSide, images.path(),
               ": image size ", rows, "x", cols, " is not plausible");
  LOWBIT_CHECK(label_count == count, labels.path(), ": ", label_count, " labels for ", count,
               " images in ", images.path());
  const uint64_t pixel_bytes = count * rows * cols;
  LOWBIT_CHECK(pixel_bytes <= images.max_body_bytes(16), images.path(), ": its header declares ",
               count, " x ", rows, " x ", cols, " = ", pixel_bytes,
               " bytes of pixels, more than the file can hold (truncated or not an IDX file)");
  LOWBIT_CHECK(count <= labels.max_body_bytes(8), labels.path(), ": its header declares ", count,
               " labels, more than the file can hold (truncated or not an IDX file)");

  Dataset d;
  d.channels = 1;
  d.height = static_cast<int64_t>(rows);
  d.width = static_cast<int64_t>(cols);
  d.pixels = images.body(pixel_bytes, "pixels");
  const std::vector<uint8_t> label_bytes = labels.body(count, "labels");
  d.labels.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    const int label = label_bytes[i];
    LOWBIT_CHECK(label < num_classes, labels.path(), ": label ", label, " at index ", i,
                 " is out of range [0, ", num_classes, ")");
    d.labels[i] = label;
  }
  for (int k = 0; k < num_classes; ++k) d.class_names.push_back(std::to_string(k));
  return d;
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path, int num_classes) {
  try {
    return read_idx(images_path, labels_path, num_classes);
  } catch (const std::bad_alloc&) {  // every size fits the files: only large, whole ones get here
    throw Error(concat(images_path, ": out of memory while reading it and ", labels_path));
  }
}

}  // namespace lowbit
