// Flags that several lowbit programs declare alike: one definition each, so their names, help
// texts and checks stay the same from program to program.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace lowbit {

// --checkpoint PATH, required: the file the program reads.
CLI::Option* add_checkpoint_flag(CLI::App& app, std::string& path,
                                 const std::string& help = "a checkpoint written by lowbit-train");

// --data-dir DIR of a program that reads a run's checkpoint: empty falls back to the run's data
// directory, then to $LOWBIT_DATA/<dataset> and ./data/<dataset>. `what` opens the help text.
CLI::Option* add_run_data_dir_flag(CLI::App& app, std::string& dir,
                                   const std::string& what = "data directory");

// --batch-size N, 1 to 65536 images.
template <class Int>
CLI::Option* add_batch_size_flag(CLI::App& app, Int& batch_size,
                                 const std::string& help = "images per batch") {
  return app.add_option("--batch-size", batch_size, help)->check(CLI::Range(Int{1}, Int{65536}));
}

// Creates the directory that will hold the file `out` (the flag --out of a program that writes one
// file); lowbit::Error naming --out when it cannot.
void create_out_parent(const std::string& out);

// --threads N, 0 to 1024 (0: one per core).
CLI::Option* add_threads_flag(CLI::App& app, int& threads);

}  // namespace lowbit
