// The benchmarks' command line: flags declared with CLI11, one-line errors, exit status 2 for
// a bad flag or value (the apps' contract, without linking the apps' support library).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

namespace lowbit::bench {

// Parses argv and runs body() -> exit status. --help prints the flags and exits 0; a bad flag,
// or an exception from body (an unknown model, a bad size), prints one line and exits 2.
template <class Body>
int run_cli(CLI::App& app, int argc, char** argv, const char* program, Body body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s\nRun with --help for the flags.\n", program, e.what());
    return 2;
  }
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
}

}  // namespace lowbit::bench
