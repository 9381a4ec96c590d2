// ReportConfig: every setting of a lowbit-report run, declared once for the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace lowbit {

struct ReportConfig {
  std::string checkpoint;               // a lowbit-train checkpoint
  std::string csv;                      // empty: no CSV of the weight table
  std::string html;                     // empty: no report page
  std::optional<std::string> data_dir;  // given: also each quantized activation's share of zeros
  int64_t images = 256;                 // test images for the activation report
  int threads = 0;                      // 0: one per core
};

void add_report_flags(CLI::App& app, ReportConfig& config);

}  // namespace lowbit
