// lowbit-quantize end to end, as a user runs it: a LeNet-5 trained by lowbit-train on a small
// MNIST-format data set written here, then quantized: the accuracy table (float, naive,
// fine-tuned, integer-only), fine-tuning lowering the logits' RMSE, integer-only predictions
// agreeing with the simulated ones, 8 bits close to float, the quantized
// checkpoint rebuilding the fine-tuned model (lowbit-eval runs it, also integer-only), and one-line
// errors with exit status 2.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/fat/quantize_model.h"
#include "apps/train/evaluate.h"
#include "apps/train/run_setup.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/run_lock.h"
#include "data/datasets.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace fs = std::filesystem;
using namespace lowbit::testing;

namespace {

// Bars of varying brightness on a brighter background than lowbit_train_test's, so that the
// logits vary too.
const BarLook kBars{120, 100, 36, 90};

// One trained float LeNet-5 for every test of this file.
struct Trained {
  lowbit::testing::TempRoot root{"lowbit_quantize_test"};
  fs::path data, checkpoint;
  Trained() {
    data = root.dir("bars");
    write_class_bars(data, "train", 1000, 1, kBars);
    write_class_bars(data, "t10k", 300, 2, kBars);
    const fs::path run = root.dir("float");
    const CommandResult r =
        run_command(std::string(LOWBIT_TRAIN_BIN) + " --model lenet5 --dataset mnist --data-dir " +
                    data.string() +
                    " --epochs 2 --batch-size 50 --lr 0.003 --threads 1 --seed 3 --val-split 100 "
                    "--overwrite --out " +
                    run.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    checkpoint = run / "best.ckpt";
  }
  std::string quantize(const std::string& flags) const {
    return std::string(LOWBIT_QUANTIZE_BIN) + " --checkpoint " + checkpoint.string() +
           " --data-dir " + data.string() + " --threads 1 " + flags;
  }
};

const Trained& trained() {
  static const Trained t;
  return t;
}

nlohmann::json row(const nlohmann::json& table, const std::string& stage) {
  for (const nlohmann::json& r : table)
    if (r["stage"] == stage) return r;
  FAIL("no row " << stage);
  return {};
}

}  // namespace

TEST_CASE(
    "lowbit-quantize: 3-bit fine-tuning lowers the RMSE, with the table, summary, metrics and "
    "checkpoint",
    "[apps][quantize]") {
  const Trained& t = trained();
  const fs::path out = t.root.fresh("q3");
  const CommandResult r = run_command(t.quantize(
      "--bits 3 --epochs 6 --restart-epochs 2 --restart-mult 1 --lr 0.003 --data-fraction 0.5 "
      "--calibration-images 50 --batch-size 25 --out " +
      out.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* file : {"config.json", "metrics.csv", "quantized.ckpt", "summary.json",
                           "accuracy.txt", "accuracy.csv", "accuracy.json"})
    CHECK(fs::exists(out / file));
  CHECK(r.output.find("fine-tune 6/6") != std::string::npos);
  CHECK(r.output.find("ETA") != std::string::npos);

  const nlohmann::json summary = nlohmann::json::parse(read_text(out / "summary.json"));
  CHECK(summary["model"] == "lenet5");
  CHECK(summary["bits"] == 3);
  CHECK(summary["calibration_images"] == 50);
  CHECK(summary["fine_tune_images"] == 450);  // half of the 900 training images lowbit-train kept
  CHECK(summary["held_out_set"] == "validation");
  CHECK(summary["quantized_layers"] == 5);
  // The rounding-tie check ran on the 500 training images asked for by default, over every layer.
  CHECK(summary["rounding_ties"]["images"] == 500);
  CHECK(summary["rounding_ties"]["layers_checked"] == 5);
  CHECK(r.output.find("rounding ties: ") != std::string::npos);
  const nlohmann::json table = nlohmann::json::parse(read_text(out / "accuracy.json"));
  REQUIRE(table.size() == 4);
  const double float_accuracy = row(table, "float")["test_accuracy"];
  const double naive_rmse = row(table, "naive")["logits_rmse"],
               tuned_rmse = row(table, "fine-tuned")["logits_rmse"];
  INFO("float " << float_accuracy << "%, naive RMSE " << naive_rmse << ", fine-tuned RMSE "
                << tuned_rmse);
  CHECK(float_accuracy >= 90.0);
  CHECK(row(table, "float")["logits_rmse"] == 0.0);
  CHECK(tuned_rmse < 0.95 * naive_rmse);
  CHECK(summary["fine_tuned_rmse"] == tuned_rmse);
  // Integer-only inference agrees with the simulated (fake-quantized) model.
  CHECK(summary["integer_agreement"].get<double>() >= 99.5);
  CHECK(std::abs(row(table, "integer")["test_accuracy"].get<double>() -
                 row(table, "fine-tuned")["test_accuracy"].get<double>()) <= 0.5);
  CHECK(r.output.find("integer-only inference: 5 layers") != std::string::npos);
  const std::string csv = read_text(out / "accuracy.csv");
  CHECK(csv.rfind("stage,test_accuracy,test_loss,logits_rmse\nfloat,", 0) == 0);
  const std::string text = read_text(out / "accuracy.txt");
  CHECK(text.find("3-bit vector symmetric") != std::string::npos);
  CHECK(text.find("fine-tuned") != std::string::npos);
  const std::string metrics = read_text(out / "metrics.csv");
  CHECK(metrics.rfind("epoch,train_rmse,held_out_rmse,lr,seconds,images_per_second\n", 0) == 0);
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 7);

  // The checkpoint rebuilds the fine-tuned model: the same test accuracy.
  lowbit::set_num_threads(1);
  const lowbit::QuantizedModel loaded =
      lowbit::load_quantized_checkpoint((out / "quantized.ckpt").string());
  const lowbit::DatasetInfo& info = lowbit::dataset_info("mnist");
  const lowbit::Dataset test = lowbit::load_dataset("mnist", t.data.string()).test;
  const lowbit::Evaluation e =
      lowbit::evaluate(*loaded.model, *lowbit::make_eval_loader(test, 256, info), info.num_classes);
  CHECK(e.accuracy == Approx(row(table, "fine-tuned")["test_accuracy"].get<double>()));
  lowbit::set_num_threads(0);

  // lowbit-eval reads the quantized checkpoint and runs it integer-only: the numbers of the table.
  const fs::path eval_json = out / "integer.json";
  const CommandResult integer =
      run_command(std::string(LOWBIT_EVAL_BIN) + " --threads 1 --integer --checkpoint " +
                  (out / "quantized.ckpt").string() + " --data-dir " + t.data.string() +
                  " --json " + eval_json.string());
  INFO(integer.output);
  REQUIRE(integer.status == 0);
  CHECK(integer.output.find("3-bit vector symmetric (lowbit-quantize), run integer-only") !=
        std::string::npos);
  const nlohmann::json evaluated = nlohmann::json::parse(read_text(eval_json));
  CHECK(evaluated["test_accuracy"].get<double>() ==
        Approx(row(table, "integer")["test_accuracy"].get<double>()));
  CHECK(evaluated["integer_agreement"].get<double>() ==
        Approx(summary["integer_agreement"].get<double>()));
  CHECK(evaluated["integer_saturated_values"] == 0);
}

TEST_CASE("lowbit-quantize: 8 bits stay near float, asymmetric and scalar, with weight scales",
          "[apps][quantize]") {
  const Trained& t = trained();
  for (const char* flags : {"--thresholds symmetric --mode vector",
                            "--thresholds asymmetric --mode scalar --train-weight-scales"}) {
    const fs::path out = t.root.fresh("q8");
    const CommandResult r = run_command(t.quantize(
        std::string(flags) + " --bits 8 --epochs 1 --data-fraction 0.2 --out " + out.string()));
    INFO(flags << "\n" << r.output);
    REQUIRE(r.status == 0);
    const nlohmann::json table = nlohmann::json::parse(read_text(out / "accuracy.json"));
    const double float_accuracy = row(table, "float")["test_accuracy"];
    CHECK(std::abs(row(table, "naive")["test_accuracy"].get<double>() - float_accuracy) <= 1.0);
    CHECK(std::abs(row(table, "fine-tuned")["test_accuracy"].get<double>() - float_accuracy) <=
          1.0);
    CHECK(row(table, "naive")["logits_rmse"].get<double>() < 0.05);
    const nlohmann::json summary = nlohmann::json::parse(read_text(out / "summary.json"));
    CHECK(summary["integer_agreement"].get<double>() >= 99.5);
  }
}

TEST_CASE("lowbit-quantize: bad flags and files give one line and exit status 2",
          "[apps][quantize]") {
  const Trained& t = trained();
  const fs::path out = t.root.fresh("errors");
  struct Case {
    std::string command, message;
  };
  const std::string bin = LOWBIT_QUANTIZE_BIN;
  const fs::path junk = out / "junk.ckpt";
  std::ofstream(junk) << "not a checkpoint";
  for (const Case& c :
       {Case{t.quantize("--bits 9 --out " + out.string()), "--bits"},
        Case{t.quantize("--mode diagonal --out " + out.string()), "--mode"},
        Case{t.quantize("--lr nan --out " + out.string()), "--lr: Value nan not in range"},
        Case{bin + " --checkpoint " + (out / "missing.ckpt").string(), "missing.ckpt"},
        Case{bin + " --checkpoint " + junk.string(), "junk.ckpt"},
        Case{t.quantize("--epochs 0 --out " + t.root.dir("first").string()) + " && " +
                 t.quantize("--epochs 0 --out " + t.root.dir("first").string()),
             "already holds a quantized model"}}) {
    const CommandResult r = run_command(c.command);
    INFO(c.command << "\n" << r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find(c.message) != std::string::npos);
  }
  // --integer wants a lowbit-quantize checkpoint.
  const CommandResult not_quantized =
      run_command(std::string(LOWBIT_EVAL_BIN) + " --integer --checkpoint " +
                  t.checkpoint.string() + " --data-dir " + t.data.string());
  CHECK(not_quantized.status == 2);
  CHECK(not_quantized.output.find("--integer needs a lowbit-quantize checkpoint") !=
        std::string::npos);
  const CommandResult missing =
      run_command(bin + " --checkpoint " + (out / "missing.ckpt").string());
  CHECK(std::count(missing.output.begin(), missing.output.end(), '\n') == 1);
  // An output directory another process writes (here this one, as a live lowbit-quantize would)
  // is refused with the holder's pid, before anything is written to it.
  const fs::path busy = t.root.fresh("busy");
  {
    const lowbit::RunLock live(busy.string(), "lowbit-quantize");
    const CommandResult r = run_command(t.quantize("--epochs 0 --out " + busy.string()));
    CHECK(r.status == 2);
    CHECK(r.output == "lowbit-quantize: " + busy.string() +
                          ": in use by another run (lowbit-quantize pid " +
                          std::to_string(::getpid()) + " holds " + (busy / "lowbit.lock").string() +
                          "); wait for it to end, or write to another directory\n");
    CHECK_FALSE(fs::exists(busy / "config.json"));
  }
}
