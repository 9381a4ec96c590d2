// Support for the data-parallel tests: the mpirun command line, whether this build can run it, and
// this test program's own hidden cases ("[.][ranks-<file>]") run on several ranks. The tests run on
// localhost with more ranks than CI's two cores (--oversubscribe) and as root there
// (--allow-run-as-root); without MPI in the build (LOWBIT_MPIEXEC undefined) they say that they
// skip.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/program_runs.h"

namespace lowbit::testing {

// True when this build has MPI; otherwise WARNs that `what` is skipped and why.
inline bool mpi_runs_available(const std::string& what) {
#ifdef LOWBIT_MPIEXEC
  (void)what;
  return true;
#else
  WARN("skipped " << what << ": this build has no MPI (-DLOWBIT_MPI=ON needs libopenmpi-dev)");
  return false;
#endif
}

// "mpirun ... -np <ranks>" on this machine. Binding is off so that oversubscribed ranks share the
// cores, and single-copy shared memory (ptrace between processes, which containers often forbid)
// is off so that the tests run wherever CI does. Under the sanitizers, leak checking is off for
// the ranks: Open MPI keeps allocations to its end that LeakSanitizer reports.
inline std::string mpirun(int ranks) {
#ifdef LOWBIT_MPIEXEC
  std::string command = LOWBIT_MPIEXEC;
#else
  std::string command = "mpirun";
#endif
  command +=
      " --allow-run-as-root --oversubscribe --bind-to none"
      " --mca btl_vader_single_copy_mechanism none -np " +
      std::to_string(ranks);
#ifdef LOWBIT_SANITIZE
  command += " -x ASAN_OPTIONS=detect_leaks=0";
#endif
  return command + " ";
}

// Runs this test program's cases matching `tags` (hidden ones, "[.][ranks-<file>]") on `ranks`
// ranks, and checks that every rank passed them all; without MPI in the build, says that `what`
// is skipped.
inline void check_cases_pass_on_ranks(int ranks, const std::string& tags, const std::string& what) {
  if (!mpi_runs_available(what)) return;
  char self[4096];
  const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(length > 0);
  self[length] = '\0';
  const CommandResult r = run_command(mpirun(ranks) + self + " \"" + tags + "\"");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(count_occurrences(r.output, "All tests passed") == static_cast<size_t>(ranks));
}

}  // namespace lowbit::testing
