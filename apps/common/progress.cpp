// ProgressBar: redraws at most 10 times a second so that drawing never costs time.
#include "apps/common/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/distributed/communicator.h"

namespace lowbit {

ProgressBar::ProgressBar(std::string label, int64_t total, FILE* out)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      interactive_(::isatty(::fileno(out)) != 0 && world().rank() == 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_() {}

void ProgressBar::update(int64_t done, int64_t items, const std::string& status) {
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(items) / elapsed : 0.0;
  const double eta =
      done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(out_, "\r\033[K%s [%s] %lld/%lld %s %.0f img/s ETA %s", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), status.c_str(), rate,
               format_duration(eta).c_str());
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (!interactive_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
}

std::string format_duration(double seconds) {
  const long long s = std::llround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace lowbit
