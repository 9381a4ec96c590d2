// RunLock on flock(2). The kernel releases a flock when the last descriptor of its open file goes,
// and a process's descriptors go when it ends, however it ends (SIGKILL, a crash, the OOM killer):
// a lock file left behind by a dead run is therefore never locked, and a new run or a --resume
// takes it at once. No pid is compared or guessed at; the pid the holder writes is there only for
// the message of the run that finds the lock taken. The descriptor is close-on-exec, so that no
// program a run starts keeps its directory locked after it ends.
#include "core/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace lowbit {
namespace {

// Who holds the lock, from what it wrote ("1234 lowbit-train"): "lowbit-train pid 1234". Between
// taking the lock and writing, the holder leaves the previous holder's line in the file; that pid
// is dead, and the holder is then only "a process that is starting".
std::string holder_of(int fd) {
  char text[256] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  const std::string line = n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string();
  const long pid = std::strtol(line.c_str(), nullptr, 10);
  const bool alive = pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
  if (!alive) return "a process that is starting";
  const size_t space = line.find(' '), end = line.find('\n');
  const std::string program =
      space < end ? line.substr(space + 1, end == std::string::npos ? end : end - space - 1) : "";
  return concat(program.empty() ? "" : program + " ", "pid ", pid);
}

}  // namespace

RunLock::RunLock(const std::string& dir, const std::string& program) {
  const std::string path = (std::filesystem::path(dir) / kRunLockFile).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  LOWBIT_CHECK(fd_ >= 0, path, ": cannot create the lock file of ", dir, " (", std::strerror(errno),
               ")");
  int locked;
  do {
    locked = ::flock(fd_, LOCK_EX | LOCK_NB);
  } while (locked != 0 && errno == EINTR);
  if (locked != 0) {
    const int err = errno;
    const std::string holder = err == EWOULDBLOCK ? holder_of(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    LOWBIT_CHECK(err == EWOULDBLOCK, path, ": cannot lock (", std::strerror(err), ")");
    throw Error(concat(dir, ": in use by another run (", holder, " holds ", path,
                       "); wait for it to end, or write to another directory"));
  }
  // This process's id for the message of whoever finds the lock taken.
  const std::string text = concat(::getpid(), " ", program, "\n");
  const bool written = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, text.data(), text.size(), 0) ==
                                                       static_cast<ssize_t>(text.size());
  if (!written) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(concat(path, ": cannot write the lock file (", std::strerror(err), ")"));
  }
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace lowbit
