// The shape every lowbit program shares: parse the flags, run, and turn every failure into
// one line on stderr and exit status 2 (bad flags also get the usage hint).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace lowbit {

// Parses argv into `app`, then returns body()'s status; --help prints and returns 0.
int run_cli(CLI::App& app, int argc, char** argv, const char* program, const std::function<int()>& body);

}  // namespace lowbit
