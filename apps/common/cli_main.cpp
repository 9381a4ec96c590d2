// run_cli: CLI11 parsing and the error contract of the programs.
#include "apps/common/cli_main.h"

#include <cstdio>
#include <exception>
#include <memory>
#include <sstream>

#include "core/distributed/communicator.h"

namespace lowbit {

CLI::Validator real_range(double lo, double hi) {
  std::ostringstream low, high;
  low << lo;
  high << hi;
  const std::string range = low.str() + " to " + high.str();
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "Value " + text + " is not a number";
        if (!(value >= lo && value <= hi)) return "Value " + text + " not in range " + range;
        return {};
      },
      "FLOAT in [" + low.str() + " - " + high.str() + "]");
}

namespace {

int parse_and_run(CLI::App& app, int argc, char** argv, const char* program,
                  const std::function<int()>& body, bool prints) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A program with subcommands (lowbit-levels) lists them in its --help as well.
    const bool subcommands = !app.get_subcommands([](CLI::App*) { return true; }).empty();
    if (prints) {
      std::fprintf(stderr, "%s: %s\nRun with --help for the %s.\n", program, e.what(),
                   subcommands ? "subcommands and flags" : "flags");
    }
    return 2;
  }
  Communicator& ranks = world();
  try {
    return body();
  } catch (const CollectiveError& e) {  // met alike by every rank: one line, from rank 0
    if (prints) std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {  // lowbit::Error and anything the libraries throw
    if (!ranks.distributed()) {
      std::fprintf(stderr, "%s: %s\n", program, e.what());
      return 2;
    }
    std::fprintf(stderr, "%s: rank %d of %d: %s\n", program, ranks.rank(), ranks.size(), e.what());
    ranks.abort(2);
  }
}

}  // namespace

int run_cli(CLI::App& app, int argc, char** argv, const char* program,
            const std::function<int()>& body, Ranks ranks) {
  if (ranks == Ranks::kOne) {
    const int copies = launched_world_size();
    if (copies > 1) {
      if (launched_rank() == 0) {
        std::fprintf(stderr,
                     "%s: started as %d processes by an MPI launcher, but it runs as one process "
                     "(each copy would do the whole work): start it without mpirun\n",
                     program, copies);
      }
      return 2;
    }
    return parse_and_run(app, argc, argv, program, body, true);
  }
  std::unique_ptr<DistributedSession> session;
  try {
    session = std::make_unique<DistributedSession>(&argc, &argv);
  } catch (const std::exception& e) {
    if (launched_rank() == 0) std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
  const bool rank0 = world().rank() == 0;
  // The other ranks' stdout would repeat rank 0's lines (or interleave with them).
  if (!rank0 && std::freopen("/dev/null", "w", stdout) == nullptr) {
    std::fprintf(stderr, "%s: rank %d: cannot send stdout to /dev/null\n", program, world().rank());
    world().abort(2);
  }
  // Every program that runs on ranks bounds its collectives' waits alike.
  double collective_timeout = 300;
  app.add_option("--collective-timeout", collective_timeout,
                 "under mpirun: a rank that waits this many seconds for the others in a "
                 "collective ends the job (a rank died or hangs); 0: wait for ever")
      ->check(real_range(0.0, 1e6));
  const auto timed_body = [&]() -> int {
    world().set_timeout(collective_timeout);
    return body();
  };
  return parse_and_run(app, argc, argv, program, timed_body, rank0);
}

}  // namespace lowbit
