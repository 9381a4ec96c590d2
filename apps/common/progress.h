// Progress reporting for long loops: on a terminal a redrawn bar with rate and ETA, and
// otherwise nothing until the caller prints its own per-epoch line. Of the ranks of a data-parallel
// run, rank 0 alone draws it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lowbit {

class ProgressBar {
 public:
  // `total` steps of `unit_per_step` items (images) each; label shown in front.
  ProgressBar(std::string label, int64_t total, FILE* out = stderr);
  // Advances to `done` steps with `items` processed so far and a status text ("loss 0.53").
  void update(int64_t done, int64_t items, const std::string& status);
  // Clears the bar line (terminal only).
  void finish();
  bool interactive() const { return interactive_; }

 private:
  std::string label_;
  int64_t total_;
  FILE* out_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace lowbit
