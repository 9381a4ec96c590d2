// A program's settings as its command line sets them, without running it: the tests of the
// *_config files parse flags through the add_*_flags that the programs use.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace lowbit::testing {

// Declares the flags with add_flags(app, config) and parses `flags` (quotes as a shell's).
// Throws CLI11's errors: CLI::ValidationError for a value a flag refuses.
template <typename Config>
Config parse_flags(void (*add_flags)(CLI::App&, Config&), const std::string& flags) {
  CLI::App app;
  Config config;
  add_flags(app, config);
  app.parse(flags);
  return config;
}

// parse_flags for a program that requires --checkpoint: a parser of the other flags, which puts
// "--checkpoint <checkpoint>" in front of them.
template <typename Config>
auto parser_with_checkpoint(void (*add_flags)(CLI::App&, Config&), const std::string& checkpoint) {
  return [add_flags, checkpoint](const std::string& flags) {
    return parse_flags(add_flags, "--checkpoint " + checkpoint + " " + flags);
  };
}

}  // namespace lowbit::testing
