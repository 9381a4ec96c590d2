// lowbit-ptq end to end, as a user runs it: a LeNet-5 checkpoint and a small MNIST-format
// test set written here, a short sweep that must write every table, figure and the report
// (well-formed), and bad flags and files refused with one line and exit status 2; on 2 ranks
// (mpirun), every cell's evaluation split between them, the numbers of one process.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/common/html_report.h"
#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "apps/train/training_checkpoint.h"
#include "core/rng.h"
#include "core/run_lock.h"
#include "data/datasets.h"
#include "tests/mpi_runs.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace fs = std::filesystem;
using namespace lowbit;
using testing::CommandResult;
using testing::read_text;
using testing::run_command;

namespace {

// `count` noisy 28x28 digits-to-be in MNIST's IDX format (labels i % 10).
void write_idx(const fs::path& dir, const std::string& prefix, uint32_t count) {
  Rng rng(count);
  std::vector<uint8_t> pixels, labels;
  for (uint32_t i = 0; i < count; ++i) {
    labels.push_back(static_cast<uint8_t>(i % 10));
    for (int p = 0; p < 28 * 28; ++p) pixels.push_back(static_cast<uint8_t>(rng.below(256)));
  }
  testing::write_mnist_idx(dir, prefix, pixels, labels);
}

struct Fixture {
  testing::TempRoot root{"lowbit_ptq_app_test"};
  fs::path data = root.dir("mnist"), checkpoint;
  Fixture() {
    write_idx(data, "train", 20);
    write_idx(data, "t10k", 40);
    TrainConfig config;
    config.model = "lenet5";
    config.dataset = "mnist";
    config.data_dir = data.string();
    config.resolve();
    const auto model = build_model(config, dataset_info("mnist"));
    RunProgress progress;
    progress.epochs_done = 1;
    progress.history.resize(1);
    progress.history[0].epoch = 1;
    checkpoint = root.dir("run") / "last.ckpt";
    save_training_checkpoint(checkpoint.string(), to_json(config), *model, {}, progress);
  }
  std::string ptq(const std::string& flags) const {
    return std::string(LOWBIT_PTQ_BIN) + " --threads 1 --checkpoint " + checkpoint.string() + " " +
           flags;
  }
};

}  // namespace

TEST_CASE("lowbit-ptq sweeps a checkpoint and writes tables, figures and a well-formed report",
          "[apps][ptq]") {
  Fixture f;
  const fs::path out = f.root.fresh("sweep");
  const CommandResult r =
      run_command(f.ptq("--bits 4,2 --merge-classes 3,5 --xz-preset 0 --out " + out.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("Table 1") != std::string::npos);
  CHECK(r.output.find("[7/7] pow2-free") != std::string::npos);  // progress on stderr
  CHECK(r.output.find("grouped (3+5)") != std::string::npos);
  const std::string csv = read_text(out / "ptq.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 1 + 7);
  const nlohmann::json j = nlohmann::json::parse(read_text(out / "ptq.json"));
  CHECK(j["model"] == "lenet5");
  CHECK(j["test_images"] == 40);
  CHECK(j["cells"].size() == 7);
  CHECK(j["baseline"]["images"] == 40);
  for (const char* file :
       {"levels.csv", "ranges.csv", "histograms.csv", "confusion/float.csv", "confusion/sym-2.csv",
        "confusion/asym-4.csv", "confusion/pow2-free.svg", "report.html"}) {
    CHECK(fs::exists(out / file));
  }
  // LeNet-5 has 5 kernels: the figures show the middle one (there is no 9th), a range plot
  // and two histogram plots, every one well-formed.
  int ranges = 0, histograms = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".svg") continue;
    ranges += name.rfind("ranges-", 0) == 0;
    histograms += name.rfind("histogram-", 0) == 0;
    INFO(name);
    CHECK(xml_error(read_text(e.path())) == "");
  }
  CHECK(ranges == 1);
  CHECK(histograms == 2);
  const std::string page = read_text(out / "report.html");
  CHECK(xml_error(page) == "");
  for (const char* heading :
       {"Table 1", "Table 5", "Table 2", "Table 3c", "Figure 1", "Figure 2", "Figure 3"}) {
    CHECK(page.find(heading) != std::string::npos);
  }
  CHECK(page.find("<td>sym</td>") != std::string::npos);
}

TEST_CASE("lowbit-ptq on 2 ranks evaluates every cell as one process does", "[mpi][apps][ptq]") {
  if (!testing::mpi_runs_available("lowbit-ptq on 2 ranks")) return;
  Fixture f;
  const fs::path one = f.root.fresh("one"), two = f.root.fresh("two");
  const std::string flags = "--bits 4 --merge-classes 3,5 --xz-preset 0 --batch-size 16 --out ";
  REQUIRE(run_command(f.ptq(flags + one.string())).status == 0);
  const CommandResult r = run_command(testing::mpirun(2) + f.ptq(flags + two.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(testing::count_occurrences(r.output, "] pow2-free") == 1);  // rank 0 alone reports
  const nlohmann::json a = nlohmann::json::parse(read_text(one / "ptq.json")),
                       b = nlohmann::json::parse(read_text(two / "ptq.json"));
  REQUIRE(a["cells"].size() == b["cells"].size());
  // 40 test images in batches of 16 (shards of 8, 8, 8, 8, 4, 4): the counts are exact, the mean
  // losses equal up to the order of their sums.
  for (size_t i = 0; i < a["cells"].size(); ++i) {
    const nlohmann::json &x = a["cells"][i], &y = b["cells"][i];
    INFO(x["label"]);
    CHECK(x["label"] == y["label"]);
    CHECK(y["images"] == 40);
    CHECK(x["accuracy"] == y["accuracy"]);
    CHECK(x["confusion"] == y["confusion"]);
    CHECK(x["grouped_accuracy"] == y["grouped_accuracy"]);
    CHECK(y["loss"].get<double>() == Approx(x["loss"].get<double>()).epsilon(1e-6));
    CHECK(x["size"] == y["size"]);
  }
}

TEST_CASE("lowbit-ptq refuses bad flags and files with one line and status 2", "[apps][ptq]") {
  Fixture f;
  auto expect_error = [](const CommandResult& r, const std::string& text) {
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find(text) != std::string::npos);
  };
  const std::string out = " --out " + f.root.fresh("bad").string();
  expect_error(run_command(f.ptq("--bits 1" + out)), "bit width 1");
  expect_error(run_command(f.ptq("--bits 17" + out)), "expected 2..16");
  expect_error(run_command(f.ptq("--schemes log" + out)), "unknown quantization scheme 'log'");
  expect_error(run_command(f.ptq("--granularity row" + out)), "--granularity");
  expect_error(run_command(f.ptq("--granularity row" + out)), "Run with --help for the flags.");
  expect_error(run_command(f.ptq("--layers conv9.weight" + out)), "the kernels are");
  expect_error(run_command(f.ptq("--merge-classes 3,wolf" + out)), "unknown class 'wolf'");
  // run_cli's flag of every program that runs on ranks (apps/common/cli_main.h).
  expect_error(run_command(f.ptq("--collective-timeout -1" + out)),
               "--collective-timeout: Value -1 not in range");
  expect_error(run_command(std::string(LOWBIT_PTQ_BIN) + " --checkpoint " +
                           (f.root.dir("x") / "missing.ckpt").string()),
               "missing.ckpt");
  expect_error(run_command(std::string(LOWBIT_PTQ_BIN)), "--checkpoint");
  // An output directory another process writes (here this one, as a live lowbit-ptq would) is
  // refused with the holder's pid.
  const fs::path busy = f.root.fresh("busy");
  const RunLock live(busy.string(), "lowbit-ptq");
  const CommandResult r = run_command(f.ptq("--out " + busy.string()));
  CHECK(r.status == 2);
  CHECK(r.output == "lowbit-ptq: " + busy.string() + ": in use by another run (lowbit-ptq pid " +
                        std::to_string(::getpid()) + " holds " + (busy / "lowbit.lock").string() +
                        "); wait for it to end, or write to another directory\n");
  CHECK_FALSE(fs::exists(busy / "ptq.csv"));
}
