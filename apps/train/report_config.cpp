// Flag declarations of ReportConfig.
#include "apps/train/report_config.h"

#include "apps/common/flags.h"

namespace lowbit {

void add_report_flags(CLI::App& app, ReportConfig& c) {
  add_checkpoint_flag(app, c.checkpoint);
  app.add_option("--csv", c.csv, "also write the weight table as CSV to this file");
  app.add_option("--html", c.html,
                 "also write one self-contained page (tables, training curves and the test "
                 "confusion matrix as SVG) to this file");
  app.add_option("--data-dir", c.data_dir,
                 "data directory: also report each quantized activation's share of zeros");
  app.add_option("--images", c.images, "test images for the activation report")
      ->check(CLI::Range(1, 100000));
  add_threads_flag(app, c.threads);
}

}  // namespace lowbit
