// RunLock: one holder at a time, named by its pid; released when the holder ends, however it ends,
// so that a lock file left behind by a killed run blocks nothing.
#include "core/run_lock.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/check.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

const testing::TempRoot temp_root("lowbit_run_lock_test");

bool lockable(const fs::path& dir) {
  try {
    RunLock probe(dir.string(), "probe");
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Waits up to 10 s for lockable(dir) to become `wanted`.
bool becomes_lockable(const fs::path& dir, bool wanted) {
  for (int i = 0; i < 1000; ++i) {
    if (lockable(dir) == wanted) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("a run lock has one holder at a time, named by its pid", "[run_lock]") {
  const fs::path dir = temp_root.fresh("one");
  const fs::path file = dir / kRunLockFile;
  const std::string pid = std::to_string(::getpid());
  {
    const RunLock held(dir.string(), "lowbit-train");
    CHECK(testing::read_text(file) == pid + " lowbit-train\n");
    // A second holder, here in the same process: flock locks belong to open files, not processes.
    CHECK_THROWS_WITH(RunLock(dir.string(), "lowbit-ptq"),
                      dir.string() + ": in use by another run (lowbit-train pid " + pid +
                          " holds " + file.string() +
                          "); wait for it to end, or write to another directory");
  }
  CHECK(lockable(dir));  // released with its holder
  CHECK_THROWS_WITH(RunLock((dir / "absent").string(), "lowbit-train"),
                    Catch::Contains("absent/lowbit.lock: cannot create the lock file"));
}

TEST_CASE("a lock file left by a dead run does not block", "[run_lock]") {
  const fs::path dir = temp_root.fresh("stale");
  const fs::path file = dir / kRunLockFile;
  // The file of a run that ended without removing it: a pid that no longer runs.
  const std::string dead = testing::run_command("sh -c 'echo $$'").output;
  std::ofstream(file) << std::stoi(dead) << " lowbit-train\n";
  {
    const RunLock lock(dir.string(), "lowbit-train");
    CHECK(testing::read_text(file) == std::to_string(::getpid()) + " lowbit-train\n");
  }
  // A holder killed with SIGKILL: one process (the shell execs sleep) holding the lock on fd 9.
  const std::string holder =
      testing::run_command("sh -c 'exec 9>>" + file.string() +
                           " && flock 9 && exec sleep 30' > /dev/null 2>&1 & echo $!")
          .output;
  const pid_t pid = static_cast<pid_t>(std::stoi(holder));
  REQUIRE(becomes_lockable(dir, false));
  CHECK_THROWS_WITH(RunLock(dir.string(), "lowbit-train"),
                    Catch::Contains("in use by another run"));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  // The kernel drops the lock with the process's last descriptor: no pid is compared.
  CHECK(becomes_lockable(dir, true));
}
