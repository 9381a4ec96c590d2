// The flags the GFLOP/s benchmarks share (conv_gflops, winograd_bench): how long they run, which
// clock they read and on how many threads.
#pragma once

#include <CLI/CLI.hpp>
#include <vector>

namespace lowbit::bench {

// --quick (batch 16, one repetition), --cpu (process CPU time, not wall time) and --threads (the
// thread counts to run, 1 2 unless given).
inline void add_run_flags(CLI::App& app, bool& quick, bool& cpu, std::vector<int>& thread_counts) {
  app.add_flag("--quick", quick, "batch 16, one repetition (a smoke test)");
  app.add_flag("--cpu", cpu, "time process CPU time instead of wall time (for a loaded machine)");
  app.add_option("--threads", thread_counts, "thread counts to run (default: 1 2)")
      ->check(CLI::Range(1, 1024));
}

}  // namespace lowbit::bench
