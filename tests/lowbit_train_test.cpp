// lowbit-train and lowbit-eval end to end, as a user runs them: a small MNIST-format data
// set written here, a short run that must learn it, a resumed run that must end with the
// same numbers as an uninterrupted one, and clear errors with exit status 2 for bad input.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/html_report.h"
#include "core/rng.h"
#include "core/run_lock.h"
#include "tests/program_runs.h"

namespace fs = std::filesystem;
using namespace lowbit::testing;

namespace {

struct Fixture {
  fs::path root, data;
  Fixture() {
    root = fs::temp_directory_path() / ("lowbit_train_test_" + std::to_string(::getpid()));
    data = root / "squares";
    fs::create_directories(data);
    write_class_bars(data, "train", 1000, 1);
    write_class_bars(data, "t10k", 200, 2);
  }
  ~Fixture() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  std::string train(const std::string& flags) const {
    return std::string(LOWBIT_TRAIN_BIN) + " --model lenet5 --dataset mnist --data-dir " +
           data.string() + " --batch-size 50 --lr 0.003 --threads 2 --seed 3 " + flags +
           (flags.find("--val-split") == std::string::npos ? " --val-split 100" : "");
  }
};

// metrics.csv without the timing columns (seconds, images/s), which vary run to run.
std::string metrics_without_timing(const fs::path& csv) {
  std::stringstream in(read_text(csv)), out;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    std::string cell;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    REQUIRE(cells.size() == 8);
    for (size_t c = 0; c < 6; ++c) out << cells[c] << ',';
    out << '\n';
  }
  return out.str();
}

// lowbit-report --html on a checkpoint.
CommandResult run_report(const fs::path& checkpoint, const fs::path& page) {
  return run_command(std::string(LOWBIT_REPORT_BIN) + " --threads 2 --checkpoint " +
                     checkpoint.string() + " --html " + page.string());
}

// The page of a checkpoint that lowbit-report must write, well-formed.
std::string report_page(const fs::path& checkpoint, const fs::path& page) {
  const CommandResult r = run_report(checkpoint, page);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const std::string html = read_text(page);
  CHECK(lowbit::xml_error(html) == "");
  return html;
}

}  // namespace

TEST_CASE("lowbit-train learns a small data set and writes its run directory", "[apps][train]") {
  Fixture f;
  const fs::path out = f.root / "run";
  const CommandResult r = run_command(f.train("--epochs 3 --out " + out.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("\"model\": \"lenet5\"") != std::string::npos);  // the resolved configuration
  for (const char* file : {"config.json", "metrics.csv", "curves.svg", "last.ckpt", "best.ckpt",
                           "summary.json", "test_confusion.csv"}) {
    CHECK(fs::exists(out / file));
  }
  const nlohmann::json summary = nlohmann::json::parse(read_text(out / "summary.json"));
  CHECK(summary["model"] == "lenet5");
  CHECK(summary["dataset"] == "mnist");
  CHECK(summary["epochs"] == 3);
  CHECK(summary["test_accuracy"].get<double>() >= 95.0);
  CHECK(summary["best_val_accuracy"].get<double>() >= 95.0);
  CHECK(summary["train_images_per_second"].get<double>() > 0);
  CHECK(summary["test_images"] == 200);
  const std::string metrics = read_text(out / "metrics.csv");
  CHECK(metrics.rfind(
            "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,images_per_second\n",
            0) == 0);
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 4);

  // lowbit-eval on the same checkpoint reproduces the test accuracy and writes the matrix.
  const CommandResult e =
      run_command(std::string(LOWBIT_EVAL_BIN) + " --threads 2 --checkpoint " +
                  (out / "last.ckpt").string() + " --json " + (out / "eval.json").string());
  INFO(e.output);
  REQUIRE(e.status == 0);
  const nlohmann::json eval = nlohmann::json::parse(read_text(out / "eval.json"));
  CHECK(eval["test_accuracy"].get<double>() == Approx(summary["test_accuracy"].get<double>()));
  CHECK(eval["confusion"].size() == 100);
  CHECK(fs::exists(out / "last.ckpt.confusion.csv"));
  CHECK(e.output.find("confusion matrix") != std::string::npos);
  // ... and draws it beside the CSV, saying where both went.
  const fs::path heat_map = out / "last.ckpt.confusion.svg";
  CHECK(lowbit::xml_error(read_text(heat_map)) == "");
  CHECK(count_occurrences(read_text(heat_map), "<rect x=") == 100);
  CHECK(e.output.find("confusion matrix written to " + (out / "last.ckpt.confusion.csv").string() +
                      " (CSV) and " + heat_map.string() + " (heat map)") != std::string::npos);

  // lowbit-report's page: well-formed, with the float model's weight statistics, their histograms
  // and the training curves; no grid-level table for float weights.
  const std::string html = report_page(out / "last.ckpt", out / "report.html");
  CHECK(html.find("<caption>float weights</caption>") != std::string::npos);
  CHECK(html.find("weight levels") == std::string::npos);
  CHECK(html.find("<td>fc3.weight</td>") != std::string::npos);
  CHECK(html.find("weights of lenet5 on mnist") != std::string::npos);  // the histogram figure
  // The test set's section, from test_confusion.csv: the accuracy lowbit-train reported, the
  // per-class table and the heat map beside the two training charts.
  char accuracy[32];
  std::snprintf(accuracy, sizeof accuracy, "%.2f%%", summary["test_accuracy"].get<double>());
  CHECK(html.find("The final model on the test split (" + (out / "test_confusion.csv").string() +
                  "): " + accuracy + " of 200 images.") != std::string::npos);
  CHECK(html.find("<caption>per-class accuracy</caption>") != std::string::npos);
  CHECK(count_occurrences(html, "<svg") == 5);
  CHECK(count_occurrences(html, "<circle") == 12);  // three epochs of four curves

  // A second run into the same directory is refused rather than overwriting it.
  const CommandResult again = run_command(f.train("--epochs 1 --out " + out.string()));
  CHECK(again.status == 2);
  CHECK(again.output.find("already holds a run") != std::string::npos);
}

TEST_CASE("a resumed lowbit-train run ends with the same numbers as an uninterrupted one",
          "[apps][train]") {
  Fixture f;
  const fs::path whole = f.root / "whole", parts = f.root / "parts", killed = f.root / "killed";
  REQUIRE(run_command(f.train("--epochs 3 --out " + whole.string())).status == 0);
  const nlohmann::json a = nlohmann::json::parse(read_text(whole / "summary.json"));

  // Stopped after one epoch on purpose, then resumed.
  const CommandResult first =
      run_command(f.train("--epochs 3 --stop-after 1 --out " + parts.string()));
  INFO(first.output);
  REQUIRE(first.status == 0);
  CHECK(first.output.find("stopped after epoch 1 of 3") != std::string::npos);
  CHECK_FALSE(fs::exists(parts / "summary.json"));
  // Resuming needs only the run directory: the model, data set and every other setting come from
  // it.
  const CommandResult rest =
      run_command(std::string(LOWBIT_TRAIN_BIN) + " --resume --out " + parts.string());
  INFO(rest.output);
  REQUIRE(rest.status == 0);
  CHECK(rest.output.find("resumed from") != std::string::npos);
  CHECK(metrics_without_timing(whole / "metrics.csv") ==
        metrics_without_timing(parts / "metrics.csv"));
  const nlohmann::json b = nlohmann::json::parse(read_text(parts / "summary.json"));
  CHECK(a["test_accuracy"] == b["test_accuracy"]);
  CHECK(a["test_loss"] == b["test_loss"]);

  // Killed (SIGKILL) at an arbitrary moment, then resumed from whatever checkpoint was
  // complete (or started afresh when none was): the run still ends with the same numbers.
  const std::string log = (f.root / "killed.log").string();
  run_command(f.train("--epochs 3 --out " + killed.string()) + " > " + log +
              " 2>&1 & sleep 0.6; kill -9 $! 2>/dev/null; wait");
  const bool saved = fs::exists(killed / "last.ckpt");
  // The killed run's lock file stays, naming a dead pid; its lock went with the process.
  if (saved) CHECK(fs::exists(killed / "lowbit.lock"));
  const CommandResult after = run_command(
      f.train("--epochs 3 --out " + killed.string() + (saved ? " --resume" : " --overwrite")));
  INFO(after.output);
  REQUIRE(after.status == 0);
  CHECK(metrics_without_timing(whole / "metrics.csv") ==
        metrics_without_timing(killed / "metrics.csv"));
  CHECK(a["test_loss"] == nlohmann::json::parse(read_text(killed / "summary.json"))["test_loss"]);

  // The same seed and thread count give bit-identical metrics.
  const fs::path twin = f.root / "twin";
  REQUIRE(run_command(f.train("--epochs 3 --out " + twin.string())).status == 0);
  CHECK(metrics_without_timing(whole / "metrics.csv") ==
        metrics_without_timing(twin / "metrics.csv"));
}

TEST_CASE("a power-of-two run re-estimates batch norm each epoch and resumes to the same numbers",
          "[apps][train]") {
  Fixture f;
  const std::string q = "--weights pow2 --act pow2 --act-bits 3 --act-q2 0.25 --epochs 2 ";
  const fs::path whole = f.root / "whole", parts = f.root / "parts", stale = f.root / "stale";
  const CommandResult first = run_command(f.train(q + "--out " + whole.string()));
  INFO(first.output);
  REQUIRE(first.status == 0);
  // The default resolves to 5120 images with quantized weights and is saved with the run.
  CHECK(nlohmann::json::parse(read_text(whole / "config.json"))["recalibrate_bn"] == 5120);
  REQUIRE(run_command(f.train(q + "--stop-after 1 --out " + parts.string())).status == 0);
  REQUIRE(run_command(f.train(q + "--resume --out " + parts.string())).status == 0);
  CHECK(metrics_without_timing(whole / "metrics.csv") ==
        metrics_without_timing(parts / "metrics.csv"));
  // Without the re-estimation the validation numbers come from the lagging running averages.
  REQUIRE(run_command(f.train(q + "--recalibrate-bn 0 --out " + stale.string())).status == 0);
  CHECK(metrics_without_timing(whole / "metrics.csv") !=
        metrics_without_timing(stale / "metrics.csv"));
  // lowbit-report: the grid layers' level table, with the float first layer marked float and given
  // its float statistics below.
  const CommandResult report =
      run_command(std::string(LOWBIT_REPORT_BIN) + " --threads 2 --checkpoint " +
                  (whole / "last.ckpt").string());
  INFO(report.output);
  REQUIRE(report.status == 0);
  const size_t conv1 = report.output.find("\nconv1.weight");
  REQUIRE(conv1 != std::string::npos);
  const std::string conv1_row =
      report.output.substr(conv1 + 1, report.output.find('\n', conv1 + 1) - conv1 - 1);
  CHECK(conv1_row.find(" float ") != std::string::npos);
  CHECK(report.output.find("\nfloat layers\n") != std::string::npos);
  const size_t fc1 = report.output.find("\nfc1.weight");
  REQUIRE(fc1 != std::string::npos);
  const std::string fc1_row =
      report.output.substr(fc1 + 1, report.output.find('\n', fc1 + 1) - fc1 - 1);
  CHECK(fc1_row.find("% ") != std::string::npos);
  CHECK(fc1_row.substr(fc1_row.find("% ") + 2).find_first_not_of(' ') ==
        8);  // off the grid: a right-aligned 0
  CHECK(fc1_row[fc1_row.find("% ") + 10] == '0');
}

TEST_CASE("lowbit-train rejects bad flags and data with one line and status 2", "[apps][train]") {
  Fixture f;
  const std::string bin = LOWBIT_TRAIN_BIN;
  auto expect_error = [](const CommandResult& r, const std::string& text) {
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find(text) != std::string::npos);
  };
  expect_error(run_command(bin + " --epochs zero"), "--epochs");
  expect_error(run_command(bin + " --optimizer rmsprop"), "--optimizer");
  // NaN passes every comparison, so a range check must be written to refuse it.
  expect_error(run_command(bin + " --lr nan"), "--lr: Value nan not in range 0 to 100");
  expect_error(run_command(bin + " --act-q2 -nan"), "--act-q2: Value -nan not in range");
  expect_error(run_command(bin + " --weight-decay 1e-3x"),
               "--weight-decay: Value 1e-3x is not a number");
  expect_error(run_command(bin + " --model resnet1000 --dataset cifar10"), "known models: lenet5");
  const CommandResult no_data =
      run_command(bin + " --dataset mnist --model lenet5 --out " + (f.root / "no_data").string() +
                  " --data-dir " + (f.root / "nowhere").string());
  expect_error(no_data, "nowhere");
  // A run that cannot start prints its error alone, not the configuration it would have used.
  CHECK(no_data.output.find("configuration") == std::string::npos);
  CHECK(count_occurrences(no_data.output, "\n") == 1);
  expect_error(run_command(f.train("--val-split 5000 --out " + (f.root / "big_split").string())),
               "5000");
  expect_error(run_command(f.train("--resume --out " + (f.root / "never_ran").string())),
               "no checkpoint to resume");
  expect_error(run_command(f.train("--tta-flip --out " + (f.root / "mirrored_digits").string())),
               "--tta-flip: mnist is not trained on mirror images");
  const fs::path lenet_run = f.root / "lenet_run";
  REQUIRE(run_command(f.train("--epochs 1 --out " + lenet_run.string())).status == 0);
  expect_error(run_command(bin + " --model resnet20 --resume --out " + lenet_run.string()),
               "holds a run of lenet5 on mnist, not resnet20 on mnist");
  // A damaged checkpoint is named, never loaded.
  const fs::path run = f.root / "damaged";
  REQUIRE(run_command(f.train("--epochs 1 --out " + run.string())).status == 0);
  {
    std::fstream file(run / "last.ckpt", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(200);
    file.put('\x7f');
  }
  expect_error(run_command(f.train("--epochs 2 --resume --out " + run.string())), "last.ckpt");
  expect_error(run_command(std::string(LOWBIT_EVAL_BIN) + " --checkpoint " +
                           (run / "missing.ckpt").string()),
               "missing.ckpt");
  // Listing and summaries need no data.
  const CommandResult list = run_command(bin + " --list-models");
  CHECK(list.status == 0);
  CHECK(list.output.find("resnet20") != std::string::npos);
  const CommandResult summary = run_command(bin + " --model resnet20 --dataset cifar10 --summary");
  CHECK(summary.status == 0);
  CHECK(summary.output.find("269,722 parameters") != std::string::npos);
}

TEST_CASE(
    "lowbit-train --tta-flip reports the flip-averaged and the single-view test accuracy as "
    "lowbit-eval does",
    "[apps][train]") {
  Fixture f;
  // A CIFAR-10 copy of random images: five training batches of 8 records and a test batch of 20.
  const fs::path cifar = f.root / "cifar";
  fs::create_directories(cifar);
  lowbit::Rng rng(9);
  auto write_batch = [&](const std::string& name, int records) {
    std::string bytes;
    for (int r = 0; r < records; ++r) {
      bytes.push_back(static_cast<char>(r % 10));
      for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<char>(rng.below(256)));
    }
    std::ofstream(cifar / name, std::ios::binary) << bytes;
  };
  for (int b = 1; b <= 5; ++b) write_batch("data_batch_" + std::to_string(b) + ".bin", 8);
  write_batch("test_batch.bin", 20);

  const fs::path out = f.root / "tta";
  const CommandResult r = run_command(
      std::string(LOWBIT_TRAIN_BIN) + " --model resnet20 --dataset cifar10 --data-dir " +
      cifar.string() + " --epochs 1 --batch-size 8 --val-split 0 --threads 2 --tta-flip --out " +
      out.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("on the images alone") != std::string::npos);
  const nlohmann::json summary = nlohmann::json::parse(read_text(out / "summary.json"));
  CHECK(summary["tta_flip"] == true);
  const double averaged = summary["test_accuracy"].get<double>(),
               single = summary["test_accuracy_single_view"].get<double>();

  // lowbit-eval follows the run's setting by default, and --no-tta-flip scores the images alone.
  auto eval_accuracy = [&](const std::string& flags) {
    const fs::path json = out / "eval.json";
    const CommandResult e =
        run_command(std::string(LOWBIT_EVAL_BIN) + " --threads 2 --checkpoint " +
                    (out / "last.ckpt").string() + " --json " + json.string() + flags);
    INFO(e.output);
    REQUIRE(e.status == 0);
    return nlohmann::json::parse(read_text(json));
  };
  const nlohmann::json as_run = eval_accuracy(""), alone = eval_accuracy(" --no-tta-flip");
  CHECK(as_run["tta_flip"] == true);
  CHECK(as_run["test_accuracy"].get<double>() == Approx(averaged));
  CHECK(alone["tta_flip"] == false);
  CHECK(alone["test_accuracy"].get<double>() == Approx(single));
  CHECK(alone["test_loss"].get<double>() != Approx(as_run["test_loss"].get<double>()));
  // CIFAR-10's class names label the heat map and the report page's per-class table.
  const std::string heat_map = read_text(out / "last.ckpt.confusion.svg");
  CHECK(heat_map.find(">airplane</text>") != std::string::npos);
  CHECK(heat_map.find(">truck</text>") != std::string::npos);
  const std::string html = report_page(out / "last.ckpt", out / "report.html");
  CHECK(html.find("<tr><td>automobile</td><td>2</td>") !=
        std::string::npos);                             // 2 of the 20 test images
  CHECK(html.find("validation") == std::string::npos);  // --val-split 0: no validation curves
}

TEST_CASE(
    "lowbit-report draws a one-epoch run and says when its test confusion matrix is absent or "
    "wrong",
    "[apps][train]") {
  Fixture f;
  const fs::path out = f.root / "one";
  REQUIRE(run_command(f.train("--epochs 1 --out " + out.string())).status == 0);
  const std::string html = report_page(out / "last.ckpt", out / "report.html");
  CHECK(count_occurrences(html, "<circle") == 4);  // one point for each curve: no line to draw
  CHECK(html.find("<caption>per-class accuracy</caption>") != std::string::npos);
  CHECK(html.find("<tr><td>7</td><td>20</td>") !=
        std::string::npos);  // digits name MNIST's classes

  // A checkpoint away from its run directory: the page says the matrix is missing, in one line.
  const fs::path moved = f.root / "moved";
  fs::create_directories(moved);
  fs::copy_file(out / "last.ckpt", moved / "last.ckpt");
  const std::string without = report_page(moved / "last.ckpt", moved / "report.html");
  CHECK(without.find("<p>No confusion matrix: " + (moved / "test_confusion.csv").string() +
                     " is absent") != std::string::npos);
  CHECK(without.find("per-class accuracy") == std::string::npos);

  // A malformed one is an error that names it: one line, status 2, no page.
  std::ofstream(moved / "test_confusion.csv") << "true\\predicted,0,1\n0,5,1\n1,0,5\n";
  fs::remove(moved / "report.html");
  const CommandResult bad = run_report(moved / "last.ckpt", moved / "report.html");
  CHECK(bad.status == 2);
  CHECK(bad.output == "lowbit-report: " + (moved / "test_confusion.csv").string() +
                          ": 2 classes; expected 10, the classes of the run's data set\n");
  CHECK_FALSE(fs::exists(moved / "report.html"));
  std::ofstream(moved / "test_confusion.csv") << "epoch,loss\n";
  const CommandResult wrong = run_report(moved / "last.ckpt", moved / "report.html");
  CHECK(wrong.status == 2);
  CHECK(wrong.output.find((moved / "test_confusion.csv").string() +
                          ": line 1 is \"epoch,loss\"; expected the header") != std::string::npos);
  CHECK(count_occurrences(wrong.output, "\n") == 1);

  // lowbit-eval names a heat map it cannot write.
  const CommandResult unwritable = run_command(
      std::string(LOWBIT_EVAL_BIN) + " --threads 2 --checkpoint " + (out / "last.ckpt").string() +
      " --svg " + (f.root / "no" / "such" / "m.svg").string());
  CHECK(unwritable.status == 2);
  CHECK(unwritable.output.find("no/such/m.svg: cannot write") != std::string::npos);
  // Beside a --csv file not named .csv, the heat map's name is the CSV's with .svg added.
  const CommandResult drawn =
      run_command(std::string(LOWBIT_EVAL_BIN) + " --threads 2 --checkpoint " +
                  (out / "last.ckpt").string() + " --csv " + (f.root / "m").string());
  INFO(drawn.output);
  CHECK(drawn.status == 0);
  CHECK(fs::exists(f.root / "m"));
  CHECK(lowbit::xml_error(read_text(f.root / "m.svg")) == "");
}

TEST_CASE("lowbit-train starts a power-of-two run from a float run and distills from it",
          "[apps][train]") {
  Fixture f;
  const fs::path teacher = f.root / "float", student = f.root / "student";
  REQUIRE(run_command(f.train("--epochs 1 --val-split 0 --act relu --out " + teacher.string()))
              .status == 0);
  // The float LeNet-5 has no BN: a run with quantized activations cannot take its weights.
  const CommandResult mismatch =
      run_command(f.train("--epochs 1 --weights pow2 --act pow2 --init-from " +
                          (teacher / "last.ckpt").string() + " --out " + student.string()));
  INFO(mismatch.output);
  CHECK(mismatch.status == 2);
  CHECK(mismatch.output.find("--init-from " + (teacher / "last.ckpt").string()) !=
        std::string::npos);
  // A float-weight run with the quantized activation is the first stage of a progressive run.
  const fs::path stage1 = f.root / "stage1";
  REQUIRE(run_command(f.train("--epochs 1 --act pow2 --out " + stage1.string())).status == 0);
  const CommandResult r = run_command(f.train(
      "--epochs 1 --weights pow2 --act pow2 --init-from " + (stage1 / "last.ckpt").string() +
      " --teacher " + (teacher / "last.ckpt").string() + " --out " + student.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("initialized from " + (stage1 / "last.ckpt").string()) != std::string::npos);
  CHECK(r.output.find("BN scaled") == std::string::npos);  // its BN already fits the levels
  CHECK(r.output.find("distilling from " + (teacher / "last.ckpt").string() +
                      ": loss = 0.3 cross-entropy + 0.7 T^2 KL at T = 4") != std::string::npos);
  const nlohmann::json config = nlohmann::json::parse(read_text(student / "config.json"));
  CHECK(config["teacher"] == (teacher / "last.ckpt").string());
  CHECK(config["act_backward"] == "clipped");
  CHECK(config["lr"].get<double>() ==
        Approx(0.003));  // the fixture's flag wins over the pow2 default
  // The student resumes with its teacher, and bad values are named.
  REQUIRE(run_command(f.train("--epochs 2 --resume --out " + student.string())).status == 0);
  auto expect_error = [](const CommandResult& e, const std::string& text) {
    INFO(e.output);
    CHECK(e.status == 2);
    CHECK(e.output.find(text) != std::string::npos);
  };
  expect_error(run_command(f.train("--teacher " + (f.root / "none.ckpt").string() + " --out " +
                                   (f.root / "x").string())),
               "none.ckpt");
  expect_error(run_command(f.train("--distill-weight 1.5")), "--distill-weight");
  expect_error(run_command(f.train("--act-backward ste")), "--act-backward");
  expect_error(run_command(f.train("--bn-scale-init 0 --out " + (f.root / "y").string())),
               "--bn-scale-init 0");
  expect_error(run_command(f.train("--crop-padding 17")), "--crop-padding");
  expect_error(run_command(f.train("--residual-act before")), "--residual-act");
  expect_error(run_command(f.train("--residual-act branch-input --out " + (f.root / "z").string())),
               "lenet5 has no residual blocks");
}

TEST_CASE(
    "crop padding, the activation backward and its scale change what a run trains on and with",
    "[apps][train]") {
  Fixture f;
  auto metrics = [&](const std::string& name, const std::string& flags) {
    const fs::path out = f.root / name;
    const CommandResult r = run_command(
        f.train("--epochs 1 --weights pow2 --act pow2 " + flags + " --out " + out.string()));
    INFO(r.output);
    REQUIRE(r.status == 0);
    return std::make_pair(metrics_without_timing(out / "metrics.csv"),
                          nlohmann::json::parse(read_text(out / "config.json")));
  };
  const auto plain = metrics("plain", ""), shifted = metrics("shifted", "--crop-padding 2"),
             paper = metrics("paper", "--act-backward eq7"),
             scaled = metrics("scaled", "--act-scale trained");
  CHECK(plain.second["crop_padding"] == 0);  // the lenet5-pow2 recipe's: no shifts
  CHECK(shifted.second["crop_padding"] == 2);
  CHECK(paper.second["act_backward"] == "eq7");
  CHECK(plain.first != shifted.first);
  CHECK(plain.first != paper.first);
  CHECK(scaled.second["act_scale"] == "trained");
  CHECK(plain.first != scaled.first);
  CHECK(plain.first == metrics("again", "").first);  // and nothing else varies between runs
}

TEST_CASE("lowbit-train takes its recipe's values for every flag not given and lists the recipes",
          "[apps][train]") {
  Fixture f;
  auto config = [&](const std::string& name, const std::string& flags) {
    const fs::path out = f.root / name;
    const CommandResult r = run_command(f.train("--epochs 1 " + flags + " --out " + out.string()));
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK(r.output.find("recipe: ") != std::string::npos);
    return nlohmann::json::parse(read_text(out / "config.json"));
  };
  const nlohmann::json plain = config("plain", "");
  CHECK(plain["recipe"] == "lenet5");
  CHECK(plain["crop_padding"] == 2);          // the recipe's
  CHECK(plain["lr"].get<float>() == 0.003f);  // given by the fixture's flags
  CHECK(plain["epochs"] == 1);
  const nlohmann::json paper = config("paper", "--recipe dst-paper --act-bits 2");
  CHECK(paper["recipe"] == "dst-paper");
  CHECK(paper["weights"] == "pow2");
  CHECK(paper["act_backward"] == "eq7");
  CHECK(paper["act_bits"] == 2);
  CHECK(paper["warmup_epochs"] == 0);

  const CommandResult list = run_command(std::string(LOWBIT_TRAIN_BIN) + " --list-recipes");
  REQUIRE(list.status == 0);
  CHECK(list.output.find("cifar-resnet\n") != std::string::npos);
  CHECK(list.output.find("expected: ") != std::string::npos);
  const CommandResult unknown = run_command(f.train("--recipe fast"));
  CHECK(unknown.status == 2);
  CHECK(unknown.output.find("--recipe fast: unknown recipe; known recipes: lenet5,") !=
        std::string::npos);
  CHECK(unknown.output.find("configuration") == std::string::npos);
}

TEST_CASE(
    "a run directory is locked: a second run or a --resume of a live run exits 2 naming the "
    "holder",
    "[apps][train]") {
  Fixture f;
  const fs::path out = f.root / "locked", lock_file = out / "lowbit.lock";
  fs::create_directories(out);
  const std::string pid = std::to_string(::getpid());
  const std::string refused = "lowbit-train: " + out.string() + ": in use by another run (" +
                              "lowbit-train pid " + pid + " holds " + lock_file.string() +
                              "); wait for it to end, or write to another directory\n";
  {
    // This process holds the lock as a live run does.
    const lowbit::RunLock live(out.string(), "lowbit-train");
    const CommandResult second = run_command(f.train("--epochs 1 --out " + out.string()));
    CHECK(second.status == 2);
    CHECK(second.output == refused);
    std::ofstream(out / "last.ckpt") << "the live run's";  // read only once the lock is taken
    for (const char* flags : {"--resume", "--overwrite --epochs 1"}) {
      const CommandResult r = run_command(f.train(std::string(flags) + " --out " + out.string()));
      INFO(flags);
      CHECK(r.status == 2);
      CHECK(r.output == refused);
    }
    CHECK_FALSE(fs::exists(out / "config.json"));  // nothing of the live run was touched
  }
  // A stale lock file (its pid dead, its lock gone with it) blocks neither a start nor a --resume:
  // both get as far as the data and the checkpoint.
  const std::string dead = run_command("sh -c 'echo $$'").output;
  std::ofstream(lock_file) << std::stoi(dead) << " lowbit-train\n";
  const CommandResult resumed = run_command(f.train("--resume --out " + out.string()));
  CHECK(resumed.status == 2);
  CHECK(resumed.output.find("last.ckpt: not a lowbit checkpoint") != std::string::npos);
  const CommandResult started =
      run_command(std::string(LOWBIT_TRAIN_BIN) + " --model lenet5 --dataset mnist --data-dir " +
                  (f.root / "nowhere").string() + " --overwrite --out " + out.string());
  CHECK(started.status == 2);
  CHECK(started.output.find("nowhere: no such directory") != std::string::npos);

  // Two runs started at once into one directory, with different seeds: one trains, the other
  // exits 2 naming it (they used to both end with 0 and leave a mix of the two).
  const fs::path both = f.root / "both";
  const std::string a = f.train("--epochs 1 --out " + both.string());
  std::string b = a;
  b.replace(b.find("--seed 3"), 8, "--seed 4");
  const CommandResult race =
      run_command("(" + a + " > " + (f.root / "a.log").string() + " 2>&1; echo a=$?) & (" + b +
                  " > " + (f.root / "b.log").string() + " 2>&1; echo b=$?) & wait");
  INFO(race.output);
  const bool a_won = race.output.find("a=0") != std::string::npos;
  CHECK(race.output.find(a_won ? "b=2" : "a=2") != std::string::npos);
  CHECK(race.output.find(a_won ? "a=0" : "b=0") != std::string::npos);
  const std::string loser = read_text(f.root / (a_won ? "b.log" : "a.log"));
  CHECK(loser.find(": in use by another run (lowbit-train pid ") != std::string::npos);
  CHECK(nlohmann::json::parse(read_text(both / "config.json"))["seed"] == (a_won ? 3 : 4));
}
