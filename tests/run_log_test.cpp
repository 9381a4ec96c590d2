// Run logs: metrics CSV, JSON round trip, training curves as SVG, atomic file writes.
#include "apps/train/run_log.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "tests/program_runs.h"

using namespace lowbit;
namespace fs = std::filesystem;
using testing::count_occurrences;

TEST_CASE("metrics go to CSV and through JSON unchanged", "[apps]") {
  EpochMetrics m;
  m.epoch = 2;
  m.train_loss = 0.5;
  m.train_accuracy = 81.25;
  m.val_loss = 0.75;
  m.val_accuracy = 79.5;
  m.lr = 0.001;
  m.seconds = 12.5;
  m.images_per_second = 4000;
  CHECK(metrics_csv({m}) ==
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,images_per_second\n"
        "2,0.500000,81.2500,0.750000,79.5000,0.001,12.500,4000.0\n");
  const EpochMetrics back = epoch_metrics_from_json(to_json(m));
  CHECK(back.epoch == 2);
  CHECK(back.val_accuracy == 79.5);
  CHECK(back.images_per_second == 4000);
  const std::string svg = training_curves_svg({m, m}, "lenet5");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("validation accuracy") != std::string::npos);
  CHECK(std::count(svg.begin(), svg.end(), '<') > 10);
  CHECK(count_occurrences(svg, "<circle") == 8);  // two epochs, four curves
  // Without a validation split the validation numbers are zeros: no curves are drawn for them.
  m.val_loss = m.val_accuracy = 0;
  const std::string unvalidated = training_curves_svg({m}, "lenet5");
  CHECK(unvalidated.find("validation") == std::string::npos);
  CHECK(count_occurrences(unvalidated, "<circle") == 2);
  CHECK(count_occurrences(unvalidated, "<polyline") == 2);
}

TEST_CASE("files are replaced atomically and unwritable places are named", "[apps]") {
  const fs::path dir =
      fs::temp_directory_path() / ("lowbit_run_log_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "summary.json").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, "second");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "second");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK_THROWS_WITH(write_file_atomic((dir / "no" / "such" / "file").string(), "x"),
                    Catch::Contains("no/such/file"));
  fs::remove_all(dir);
}
