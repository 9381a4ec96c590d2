// run_cli: CLI11 parsing and the error contract of the programs.
#include "apps/cli_main.h"

#include <cstdio>
#include <exception>

namespace lowbit {

int run_cli(CLI::App& app, int argc, char** argv, const char* program, const std::function<int()>& body) {
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
  } catch (const std::exception& e) {  // lowbit::Error and anything the libraries throw
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
}

}  // namespace lowbit
