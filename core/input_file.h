// Files lowbit reads but did not write (checkpoints, data sets, images, ONNX models). They are
// opened without blocking and read only when they are regular files: a FIFO would block the open,
// and a directory, a device (a symlink to /dev/zero) or a socket has no size to check a header
// against, so each is refused by name. The size is known before anything is allocated, and every
// read stops at it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

// The most a deflate stream (gzip, zlib, a MAT-file's compressed variable) expands: 1032 to 1 (a
// 258-byte match coded in two bits, RFC 1951). A compressed file of n bytes holds at most 1032 n
// bytes, so a header that declares more is refused before anything is allocated or inflated.
constexpr uint64_t kMaxDeflateRatio = 1032;

// The size of the regular file `path` (symlinks followed), without opening it. Throws
// lowbit::Error "<path>: file not found (expected <what>)" or "<path>: is a directory, not a
// regular file (expected <what>)" (a FIFO, a character device, ...).
uint64_t regular_file_size(const std::string& path, const std::string& what);

class InputFile {
 public:
  // Opens `path` for reading; throws lowbit::Error naming it as regular_file_size does, or with
  // the system's reason when it cannot be opened. `what` ("a lowbit checkpoint") ends every
  // message about the file.
  InputFile(const std::string& path, const std::string& what);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  uint64_t position() const { return position_; }
  uint64_t remaining() const { return size_ - position_; }
  int descriptor() const { return fd_; }

  // Reads exactly n bytes at the position; throws naming the file and the offset when fewer than
  // n remain (the file is truncated) or the read fails.
  void read(void* data, size_t n);
  // Reads up to n bytes (fewer at the end of the file); returns how many.
  size_t read_some(void* data, size_t n);
  void seek(uint64_t offset);
  // The whole file: exactly size() bytes.
  std::vector<uint8_t> read_all();

 private:
  std::string path_, what_;
  int fd_ = -1;
  uint64_t size_ = 0, position_ = 0;
};

}  // namespace lowbit
