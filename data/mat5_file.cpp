// MAT-file checks: the header, then every data element walked, compressed ones inflated as far
// as their header.
#include "data/mat5_file.h"

#include <matio.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "core/check.h"

namespace lowbit {
namespace {

// matio trusts the sizes it reads. It opens a MATLAB 7.3 file with HDF5 and anything without a
// MATLAB 5 header as a MATLAB 4 file, reads a file cut short (an interrupted download) as if it
// were whole, zeros and all, and allocates what a variable's header declares (a dims element of 2
// GB in a 3 KB file was a 4.7 GB allocation, found by the svhn fuzz target); for cell, struct and
// object arrays it follows nested headers, allocating per element. So only a MATLAB 5 file is
// opened, whose every data element ends inside the file and is a numeric or char array, stored as
// it is (miMATRIX) or compressed (miCOMPRESSED, whose first bytes are inflated to check it), with a
// header of sizes lowbit accepts.
constexpr uint32_t kMatrix = 14, kCompressed = 15;
constexpr uint32_t kMaxDimsBytes = 32 * 4;  // 32 dims
constexpr uint32_t kMaxNameBytes = 255;     // MATLAB's names have at most 63 characters
// The most bytes of an accepted header after the miMATRIX tag: flags, dims and name, each tagged.
constexpr size_t kMaxHeaderBytes = 8 + 8 + 8 + kMaxDimsBytes + 8 + (kMaxNameBytes + 7) / 8 * 8;

class Mat5Walk {
 public:
  Mat5Walk(const std::string& path, uint64_t size) : path_(path), size_(size), in_(path) {}

  void check() {
    unsigned char header[128];
    LOWBIT_CHECK(size_ >= 128 && read(0, header, 128), path_,
                 ": cannot open as a MATLAB .mat file: ", size_,
                 " bytes, too short for the 128-byte MAT-file header");
    little_ = header[126] == 'I' && header[127] == 'M';
    LOWBIT_CHECK(little_ || (header[126] == 'M' && header[127] == 'I'), path_,
                 ": cannot open as a MATLAB .mat file: no endian indicator in its header (expected "
                 "MATLAB 5 format, as the official SVHN files)");
    const uint32_t version =
        little_ ? header[124] | header[125] << 8 : header[125] | header[124] << 8;
    LOWBIT_CHECK(version == 0x0100, path_, ": MAT-file version 0x", std::hex, version, std::dec,
                 version == 0x0200 ? " (MATLAB 7.3, HDF5)" : "",
                 ", expected 0x0100 (MATLAB 5, the official SVHN files' format)");
    for (uint64_t offset = 128; offset < size_;) offset = element(offset);
  }

 private:
  uint32_t u32(const unsigned char* b) const {
    return little_
               ? uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24
               : uint32_t{b[3]} | uint32_t{b[2]} << 8 | uint32_t{b[1]} << 16 | uint32_t{b[0]} << 24;
  }

  bool read(uint64_t offset, void* to, size_t n) {
    in_.clear();
    return static_cast<bool>(in_.seekg(static_cast<std::streamoff>(offset)) &&
                             in_.read(static_cast<char*>(to), static_cast<std::streamsize>(n)));
  }

  // Checks the top-level element at `offset`; returns where the next one starts.
  uint64_t element(uint64_t offset) {
    unsigned char tag[8];
    LOWBIT_CHECK(offset + 8 <= size_ && read(offset, tag, 8), path_,
                 ": truncated MAT-file (a data element's tag at byte ", offset, " of ", size_, ")");
    const uint32_t type = u32(tag), bytes = u32(tag + 4);
    const uint64_t end = offset + 8 + bytes;
    LOWBIT_CHECK(end <= size_, path_, ": truncated MAT-file (", size_,
                 " bytes, a data element at byte ", offset, " needs ", end, "); download it again");
    LOWBIT_CHECK(type == kMatrix || type == kCompressed, path_, ": a data element of type ", type,
                 " at byte ", offset, ", expected a variable (14, or 15 compressed)");
    std::vector<unsigned char> head(8 + kMaxHeaderBytes);
    size_t got = 0;
    if (type == kMatrix) {
      std::copy(tag, tag + 8, head.begin());
      got = 8 + std::min<size_t>(bytes, kMaxHeaderBytes);
      LOWBIT_CHECK(read(offset + 8, head.data() + 8, got - 8), path_, ": cannot read byte ",
                   offset + 8);
    } else {
      got = inflate_head(offset + 8, bytes, head);
    }
    const std::string problem = header_problem(head.data(), got);
    LOWBIT_CHECK(problem.empty(), path_, ": the variable at byte ", offset, " ", problem);
    return end;
  }

  // Inflates the first bytes of the compressed element whose data is `bytes` at `offset` into
  // `head`, reading the file a piece at a time; returns how many it holds.
  size_t inflate_head(uint64_t offset, uint32_t bytes, std::vector<unsigned char>& head) {
    z_stream z{};
    LOWBIT_CHECK(inflateInit(&z) == Z_OK, path_, ": cannot start zlib");
    std::vector<unsigned char> piece(4096);
    z.next_out = head.data();
    z.avail_out = static_cast<uInt>(head.size());
    int status = Z_OK;
    for (uint64_t done = 0; status == Z_OK && z.avail_out > 0 && done < bytes;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), bytes - done));
      if (!read(offset + done, piece.data(), n)) break;
      done += n;
      z.next_in = piece.data();
      z.avail_in = static_cast<uInt>(n);
      while (status == Z_OK && z.avail_out > 0 && z.avail_in > 0) status = inflate(&z, Z_NO_FLUSH);
    }
    const size_t got = head.size() - z.avail_out;
    inflateEnd(&z);
    LOWBIT_CHECK(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, path_,
                 ": the compressed variable at byte ", offset - 8, " does not inflate (",
                 z.msg ? z.msg : "damaged data", ")");
    return got;
  }

  // What is wrong with a variable's header (its miMATRIX tag, array flags, dims and name: `got`
  // bytes at h), or "".
  std::string header_problem(const unsigned char* h, size_t got) const {
    if (got < 8 || u32(h) != kMatrix) return "is not an array (miMATRIX)";
    const uint64_t declared = u32(h + 4);
    size_t pos = 8;
    // The next tagged element: its data's offset and byte count; "" or the problem.
    auto next = [&](const char* what, uint32_t max_bytes, size_t& at, uint32_t& n) -> std::string {
      if (pos + 8 > got) return concat("ends inside its header (", what, ")");
      const uint32_t first = u32(h + pos);
      const bool small = (first >> 16) != 0;  // up to 4 bytes packed into the tag
      n = small ? first >> 16 : u32(h + pos + 4);
      if (n > max_bytes) return concat("has ", what, " of ", n, " bytes, at most ", max_bytes);
      at = pos + (small ? 4 : 8);
      pos = small ? pos + 8 : pos + 8 + (n + 7) / 8 * 8;
      if (pos > 8 + declared) return concat("has ", what, " reaching past its end");
      return at + n <= got ? "" : concat("ends inside its header (", what, ")");
    };
    size_t at = 0;
    uint32_t n = 0;
    std::string problem = next("array flags", 8, at, n);
    if (!problem.empty()) return problem;
    if (n != 8) return concat("has array flags of ", n, " bytes, expected 8");
    const uint32_t class_type = u32(h + at) & 0xff;
    if (class_type != MAT_C_CHAR && (class_type < MAT_C_DOUBLE || class_type > MAT_C_UINT64))
      return concat("is of class ", class_type, " (", mat_class_name(static_cast<int>(class_type)),
                    "), expected a numeric or char array");
    problem = next("dims", kMaxDimsBytes, at, n);
    if (!problem.empty()) return problem;
    if (n < 8 || n % 4 != 0) return concat("has dims of ", n, " bytes, expected 2 to 32 int32s");
    return next("a name", kMaxNameBytes, at, n);
  }

  const std::string& path_;
  uint64_t size_;
  std::ifstream in_;
  bool little_ = true;
};

}  // namespace

void check_mat5_file(const std::string& path, uint64_t size) { Mat5Walk(path, size).check(); }

const char* mat_class_name(int i) {
  static const char* const names[] = {"empty",  "cell",   "struct", "object", "char",     "sparse",
                                      "double", "single", "int8",   "uint8",  "int16",    "uint16",
                                      "int32",  "uint32", "int64",  "uint64", "function", "opaque"};
  return i >= 0 && i < static_cast<int>(sizeof names / sizeof names[0]) ? names[i] : "unknown";
}

}  // namespace lowbit
