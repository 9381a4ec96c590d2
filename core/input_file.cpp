// InputFile: open(O_NONBLOCK), fstat, and reads that stop at the size fstat gave (POSIX).
#include "core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/check.h"

namespace lowbit {
namespace {

// What a file that is not regular is, for the message.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

void check_regular(const std::string& path, const struct stat& st, const std::string& what) {
  LOWBIT_CHECK(S_ISREG(st.st_mode), path, ": is ", kind_of(st.st_mode),
               ", not a regular file (expected ", what, ")");
}

}  // namespace

uint64_t regular_file_size(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    LOWBIT_CHECK(err != ENOENT && err != ENOTDIR, path, ": file not found (expected ", what, ")");
    throw Error(concat(path, ": cannot read (", std::strerror(err), "; expected ", what, ")"));
  }
  check_regular(path, st, what);
  return static_cast<uint64_t>(st.st_size);
}

InputFile::InputFile(const std::string& path, const std::string& what) : path_(path), what_(what) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever. It changes nothing for
  // the regular files read below.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    LOWBIT_CHECK(err != ENOENT && err != ENOTDIR, path, ": file not found (expected ", what, ")");
    throw Error(concat(path, ": cannot open (", std::strerror(err), "; expected ", what, ")"));
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd_, &st) == 0;
  const int err = errno;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    LOWBIT_CHECK(stat_ok, path, ": cannot read (", std::strerror(err), ")");
    check_regular(path, st, what);
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::read_some(void* data, size_t n) {
  auto* out = static_cast<char*>(data);
  size_t done = 0;
  while (done < n && position_ + done < size_) {
    const ssize_t got = ::read(fd_, out + done, n - done);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    LOWBIT_CHECK(got >= 0, path_, ": read failed at byte ", position_ + done, " (",
                 std::strerror(errno), ")");
    if (got == 0) break;  // the file shrank since it was opened
    done += static_cast<size_t>(got);
  }
  position_ += done;
  return done;
}

void InputFile::read(void* data, size_t n) {
  const uint64_t at = position_;
  LOWBIT_CHECK(n <= remaining(), path_, ": truncated: ", n, " bytes needed at byte ", at,
               ", the file has ", size_, " (expected ", what_, ")");
  LOWBIT_CHECK(read_some(data, n) == n, path_, ": truncated while being read: ", n,
               " bytes needed at byte ", at, " (expected ", what_, ")");
}

void InputFile::seek(uint64_t offset) {
  LOWBIT_CHECK(offset <= size_ && ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) >= 0, path_,
               ": cannot seek to byte ", offset, " of ", size_);
  position_ = offset;
}

std::vector<uint8_t> InputFile::read_all() {
  seek(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size_));
  read(bytes.data(), bytes.size());
  return bytes;
}

}  // namespace lowbit
