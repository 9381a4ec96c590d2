// The shape every lowbit program shares: parse the flags, run, and turn every failure into
// one line on stderr and exit status 2 (bad flags also get the usage hint).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "core/parallel.h"

namespace lowbit {

// A flag's real value must lie in [lo, hi]. CLI::Range lets "nan" through (every comparison
// with NaN is false), so a NaN learning rate would reach the optimizer; this check does not.
CLI::Validator real_range(double lo, double hi);

// What a program does when an MPI launcher (mpirun -np N) starts N copies of it.
enum class Ranks {
  kOne,   // refused with status 2: the copies would each do the whole work, side by side
  kMany,  // data parallelism: the copies are the ranks of one run (core/distributed)
};

// Parses argv into `app`, then returns body()'s status; --help prints and returns 0. Bad flags:
// "<program>: <what>" and a hint to run with --help, status 2; body() throwing: its message,
// status 2.
//
// With Ranks::kMany, MPI runs for the program's life when a launcher started it (world() is then
// its ranks). Rank 0 alone writes to stdout (the others' goes to /dev/null) and prints the
// errors every rank meets alike (bad flags, CollectiveError): every rank then ends with status 2.
// Any other error ends the whole job (MPI_Abort, status 2) after its rank prints it as
// "<program>: rank r of N: <message>", so that no rank waits for one that has failed. Such a
// program also takes --collective-timeout SECONDS (default 300; 0: none): a collective that waits
// longer for the other ranks ends the job (core/distributed/communicator.h set_timeout).
int run_cli(CLI::App& app, int argc, char** argv, const char* program,
            const std::function<int()>& body, Ranks ranks = Ranks::kOne);

// The main of a program with one Config: declares its flags with add_flags(app, config), parses
// argv, uses config.threads threads and returns run(config), all through run_cli.
template <class Config, class Run>
int run_program(int argc, char** argv, const char* program, const std::string& description,
                void (*add_flags)(CLI::App&, Config&), Run run, Ranks ranks = Ranks::kOne) {
  CLI::App app{description};
  Config config;
  add_flags(app, config);
  return run_cli(
      app, argc, argv, program,
      [&]() -> int {
        set_num_threads(config.threads);
        return run(config);
      },
      ranks);
}

}  // namespace lowbit
