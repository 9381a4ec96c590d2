// The shared flag declarations of apps/common/flags.h.
#include "apps/common/flags.h"

#include <filesystem>

#include "core/check.h"

namespace lowbit {

CLI::Option* add_checkpoint_flag(CLI::App& app, std::string& path, const std::string& help) {
  return app.add_option("--checkpoint", path, help)->required();
}

CLI::Option* add_run_data_dir_flag(CLI::App& app, std::string& dir, const std::string& what) {
  return app.add_option(
      "--data-dir", dir,
      what + " (default: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>)");
}

CLI::Option* add_threads_flag(CLI::App& app, int& threads) {
  return app.add_option("--threads", threads, "threads (0: one per core)")
      ->check(CLI::Range(0, 1024));
}

void create_out_parent(const std::string& out) {
  const std::filesystem::path parent = std::filesystem::path(out).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  LOWBIT_CHECK(!error, "--out ", out, ": cannot create ", parent.string(), ": ", error.message());
}

}  // namespace lowbit
