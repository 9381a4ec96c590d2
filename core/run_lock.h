// The exclusive lock a program holds on the directory it writes (a lowbit-train run, a
// lowbit-quantize or lowbit-ptq output), from start to end: two runs writing one directory would
// leave a mix of both, each file from whichever wrote it last.
#pragma once

#include <string>

namespace lowbit {

// The lock file in a locked directory.
constexpr const char* kRunLockFile = "lowbit.lock";

class RunLock {
 public:
  // Takes the lock of `dir` (which must exist): flock(LOCK_EX) on dir/lowbit.lock, which then
  // holds this process's id. When another process holds it: lowbit::Error naming the directory
  // and the holder's pid, so that a second run, or a --resume of a live one, ends with status 2
  // before it writes anything. `program` names this process in the file ("lowbit-train").
  RunLock(const std::string& dir, const std::string& program);
  ~RunLock();  // releases the lock; the file stays, harmless (see run_lock.cpp)
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&&) = delete;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace lowbit
