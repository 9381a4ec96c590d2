// run_cli: CLI11 parsing and the error contract of the programs.
#include "apps/common/cli_main.h"

#include <cstdio>
#include <exception>
#include <sstream>

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

int run_cli(CLI::App& app, int argc, char** argv, const char* program,
            const std::function<int()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A program with subcommands (lowbit-levels) lists them in its --help as well.
    const bool subcommands = !app.get_subcommands([](CLI::App*) { return true; }).empty();
    std::fprintf(stderr, "%s: %s\nRun with --help for the %s.\n", program, e.what(),
                 subcommands ? "subcommands and flags" : "flags");
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
