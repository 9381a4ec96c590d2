// lowbit-quantize end to end, as a user runs it: a LeNet-5 trained by lowbit-train on a small
// MNIST-format data set written here, then quantized: the accuracy table (float, naive,
// fine-tuned, integer-only), fine-tuning lowering the logits' RMSE, integer-only predictions
// agreeing with the simulated ones, 8 bits close to float, the quantized
// checkpoint rebuilding the fine-tuned model (lowbit-eval runs it, also integer-only), one-line
// errors with exit status 2, and 2 ranks (mpirun) giving one process's numbers.
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
#include "tests/mpi_runs.h"
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
        Case{t.quantize("--collective-timeout nan --out " + out.string()),
             "--collective-timeout: Value nan not in range"},
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

namespace {

// Every trained scale of a quantized checkpoint, in registration order.
std::vector<float> trained_scales(const fs::path& out) {
  const lowbit::QuantizedModel q =
      lowbit::load_quantized_checkpoint((out / "quantized.ckpt").string());
  std::vector<float> scales;
  for (const lowbit::Parameter& p : q.model->parameters()) {
    if (p.role != lowbit::ParamRole::kQuantScale) continue;
    const std::vector<float> v = p.tensor.to_vector();
    scales.insert(scales.end(), v.begin(), v.end());
  }
  return scales;
}

}  // namespace

// The ranks split every fine-tuning batch (12 and 13 of 25 images; the last batch of one image
// leaves rank 0 an empty shard), the test and held-out batches, and sum the RMSE's squares and the
// scales' gradients: one process's steps with the sums in another order. Fine-tuning amplifies
// last-bit differences: Adam moves a scale by about the rate whatever its gradient's size, so a
// gradient near zero that changes sign moves its scale by a whole step, and a value that crosses a
// rounding boundary changes the next layer's codes. At --lr 0.003 (the 3-bit test above) runs that
// differ only in summation order (one process on 1 or 2 threads, or 2 ranks) drift apart by a few
// percent of the RMSE within 3 epochs; at --lr 1e-4 they agreed to every printed digit (measured
// while writing this test). The tolerances leave room for a rounding flip or two: RMSEs and losses
// within 1e-4 relative (an RMSE taken per shard instead of over the whole batch moved the first
// epoch's by 1.2e-3), accuracies within one of the 300 test images, and the scales, snapped to
// multiples of 2^-12 at the end, within one such step.
constexpr double kRmseTolerance = 1e-4, kAccuracyTolerance = 100.0 / 300, kScaleStep = 1.0 / 4096;

TEST_CASE("lowbit-quantize on 2 ranks fine-tunes and evaluates as one process does",
          "[mpi][apps][quantize]") {
  if (!mpi_runs_available("lowbit-quantize on 2 ranks")) return;
  const Trained& t = trained();
  // 251 fine-tuning images (0.2789 of 900): 10 batches of 25 and a last one of a single image.
  const std::string flags =
      "--bits 4 --epochs 3 --restart-epochs 1 --restart-mult 1 --lr 0.0001 --data-fraction 0.2789 "
      "--calibration-images 50 --batch-size 25 --eval-batch-size 64 --out ";
  const fs::path one = t.root.fresh("one_rank"), two = t.root.fresh("two_ranks");
  const CommandResult single =
      run_command("timeout -s KILL 120 " + t.quantize(flags + one.string()));
  INFO(single.output);
  REQUIRE(single.status == 0);
  const CommandResult r =
      run_command("timeout -s KILL 120 " + mpirun(2) + t.quantize(flags + two.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("data parallel: 2 ranks x 1 threads; each rank fine-tunes on 1/2 of every "
                      "batch of 25") != std::string::npos);
  CHECK(count_occurrences(r.output, "fine-tune 3/3") == 1);  // rank 0 alone prints
  const nlohmann::json s1 = nlohmann::json::parse(read_text(one / "summary.json")),
                       s2 = nlohmann::json::parse(read_text(two / "summary.json"));
  CHECK(s1["world_size"] == 1);
  CHECK(s2["world_size"] == 2);
  CHECK(s2["fine_tune_images"] == 251);
  CHECK(s2["calibration_images"] == s1["calibration_images"]);
  CHECK(s2["integer_saturated_values"] == s1["integer_saturated_values"]);
  CHECK(s2["integer_agreement"].get<double>() == Approx(s1["integer_agreement"].get<double>()));

  // epoch, train RMSE, held-out RMSE, rate (the timing columns left out)
  const auto a = read_csv_numbers(one / "metrics.csv", 4),
             b = read_csv_numbers(two / "metrics.csv", 4);
  INFO("one process:\n"
       << read_text(one / "metrics.csv") << "2 ranks:\n"
       << read_text(two / "metrics.csv"));
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == a.size());
  for (size_t e = 0; e < a.size(); ++e) {
    INFO("epoch " << e + 1);
    CHECK(b[e][0] == a[e][0]);
    CHECK(b[e][1] == Approx(a[e][1]).epsilon(kRmseTolerance));  // train RMSE
    CHECK(b[e][2] == Approx(a[e][2]).epsilon(kRmseTolerance));  // held-out RMSE
    CHECK(b[e][3] == Approx(a[e][3]).epsilon(1e-6));            // the schedule's rate
  }
  const nlohmann::json t1 = nlohmann::json::parse(read_text(one / "accuracy.json")),
                       t2 = nlohmann::json::parse(read_text(two / "accuracy.json"));
  INFO(read_text(one / "accuracy.txt") << read_text(two / "accuracy.txt"));
  REQUIRE(t1.size() == 4);
  REQUIRE(t2.size() == 4);
  for (size_t i = 0; i < t1.size(); ++i) {
    INFO(t1[i]["stage"]);
    CHECK(t2[i]["stage"] == t1[i]["stage"]);
    CHECK(std::fabs(t2[i]["test_accuracy"].get<double>() - t1[i]["test_accuracy"].get<double>()) <=
          kAccuracyTolerance);
    CHECK(t2[i]["test_loss"].get<double>() ==
          Approx(t1[i]["test_loss"].get<double>()).epsilon(kRmseTolerance));
    CHECK(t2[i]["logits_rmse"].get<double>() ==
          Approx(t1[i]["logits_rmse"].get<double>()).epsilon(kRmseTolerance));
  }

  const std::vector<float> scales1 = trained_scales(one), scales2 = trained_scales(two);
  REQUIRE(scales1.size() == scales2.size());
  REQUIRE(!scales1.empty());
  for (size_t i = 0; i < scales1.size(); ++i) {
    INFO("scale " << i);
    CHECK(std::fabs(scales2[i] - scales1[i]) <= kScaleStep);
  }

  // A run that cannot start (rank 0 finds a quantized model in --out) says why once.
  const CommandResult again =
      run_command(mpirun(2) + t.quantize("--epochs 0 --out " + two.string()));
  INFO(again.output);
  CHECK(again.status == 2);
  CHECK(count_occurrences(again.output, "already holds a quantized model") == 1);
}
