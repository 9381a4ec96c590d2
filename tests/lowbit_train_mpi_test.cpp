// lowbit-train on several ranks (mpirun -np N on this machine), as a user runs it: the same
// metrics as one process for LeNet-5 and ResNet-20, float and DST; rank 0 alone writing the run;
// a killed rank ending the job, and --resume finishing it with the numbers of a run that was never
// interrupted; a hung rank ending the job after --collective-timeout; a resume on another number
// of ranks refused unless --reshard; setup errors reported once. Small data sets written here keep
// every run to seconds.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/run_lock.h"
#include "tests/mpi_runs.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace fs = std::filesystem;
using namespace lowbit::testing;

namespace {

const TempRoot temp_root("lowbit_train_mpi_test");

// 1,200 MNIST-format training images (1,000 after a validation split of 200) and 200 test images,
// written once; and a CIFAR-10 copy of 320 training and 100 test images.
const fs::path& mnist_bars() {
  static const fs::path dir = [] {
    const fs::path d = temp_root.dir("bars");
    write_class_bars(d, "train", 1200, 1);
    write_class_bars(d, "t10k", 200, 2);
    return d;
  }();
  return dir;
}

const fs::path& cifar_bars() {
  static const fs::path dir = [] {
    const fs::path d = temp_root.dir("cifar");
    write_cifar_bars(d, 64, 100, 3);
    return d;
  }();
  return dir;
}

// lowbit-train on `ranks` ranks (0: without mpirun), one thread each. The runs end within a
// minute, or are stopped: a test must never hang.
std::string train(int ranks, const std::string& flags) {
  return "timeout -s KILL 120 " + (ranks > 0 ? mpirun(ranks) : std::string()) + LOWBIT_TRAIN_BIN +
         " --threads 1 --seed 3 " + flags;
}

std::string lenet(const std::string& flags, int batch_size = 50) {
  return "--model lenet5 --dataset mnist --data-dir " + mnist_bars().string() + " --batch-size " +
         std::to_string(batch_size) + " --lr 0.003 --val-split 200 " + flags;
}

std::string resnet20(const std::string& flags) {
  return "--model resnet20 --dataset cifar10 --data-dir " + cifar_bars().string() +
         " --batch-size 32 --val-split 64 " + flags;
}

// metrics.csv as numbers, without the timing columns: epoch, train loss and accuracy, validation
// loss and accuracy, learning rate.
std::vector<std::vector<double>> metrics(const fs::path& run) {
  return read_csv_numbers(run / "metrics.csv", 6);
}

nlohmann::json summary(const fs::path& run) {
  return nlohmann::json::parse(read_text(run / "summary.json"));
}

CommandResult run_ok(const std::string& command) {
  const CommandResult r = run_command(command);
  INFO(command << "\n" << r.output);
  REQUIRE(r.status == 0);
  return r;
}

// `command` in the background; once `run` holds its first checkpoint, the signal `signal` to the
// process of rank 1 among the command's (found by their environment: the rank mpirun gave them and
// a mark this command sets); then the command's exit status.
std::string signal_rank1_when_saved(const std::string& command, const fs::path& run,
                                    const std::string& signal) {
  const std::string mark = "LOWBIT_TEST_RUN=" + run.string();
  return "export " + mark + "; " + command + " 2>&1 & job=$!; for i in $(seq 3000); do [ -f " +
         (run / "last.ckpt").string() +
         " ] && break; sleep 0.01; done; for d in /proc/[0-9]*; do "
         "{ read -r name < $d/comm; } 2>/dev/null || continue; [ \"$name\" = lowbit-train ] || "
         "continue; tr '\\0' '\\n' < $d/environ > /tmp/lowbit_environ_$$ 2>/dev/null || "
         "continue; grep -qx '" +
         mark +
         "' /tmp/lowbit_environ_$$ && grep -qx OMPI_COMM_WORLD_RANK=1 /tmp/lowbit_environ_$$ && "
         "kill -" +
         signal + " ${d#/proc/}; done; rm -f /tmp/lowbit_environ_$$; wait $job";
}

// How far two runs' numbers may differ: losses relatively, accuracies in percentage points.
struct Tolerance {
  double loss, accuracy;
};

void check_same_metrics(const fs::path& one, const fs::path& many, const Tolerance& t) {
  const auto a = metrics(one), b = metrics(many);
  INFO("one process:\n"
       << read_text(one / "metrics.csv") << "ranks:\n"
       << read_text(many / "metrics.csv"));
  REQUIRE(a.size() == b.size());
  for (size_t e = 0; e < a.size(); ++e) {
    INFO("epoch " << e + 1);
    CHECK(a[e][0] == b[e][0]);
    CHECK(b[e][1] == Approx(a[e][1]).epsilon(t.loss));  // train loss
    CHECK(std::fabs(a[e][2] - b[e][2]) <= t.accuracy);  // train accuracy
    CHECK(b[e][3] == Approx(a[e][3]).epsilon(t.loss));  // validation loss
    CHECK(std::fabs(a[e][4] - b[e][4]) <= t.accuracy);  // validation accuracy
    CHECK(b[e][5] == Approx(a[e][5]).epsilon(1e-6));    // the schedule's rate
  }
  const nlohmann::json sa = summary(one), sb = summary(many);
  CHECK(sb["test_loss"].get<double>() == Approx(sa["test_loss"].get<double>()).epsilon(t.loss));
  CHECK(std::fabs(sa["test_accuracy"].get<double>() - sb["test_accuracy"].get<double>()) <=
        t.accuracy);
  CHECK(sa["test_images"] == sb["test_images"]);
}

}  // namespace

// Equivalence. The ranks split every batch and sum their gradients, so they compute one process's
// steps with the sums in another order: the float gradients differ in their last bits. Training
// amplifies such differences wherever a value sits within rounding of a threshold (a ReLU, a
// quantizer level, a DST transition's draw), so runs that differ only in summation order drift
// apart slowly; the tolerances below are what holds for these runs, and running one process with
// 2 threads instead of 1 (which also reorders sums) moves the same numbers as much (measured while
// writing these tests: ResNet-20's epoch-3 losses differed by 3e-4 between 1 and 2 threads, and by
// 1e-4 between 1 process and 2 ranks). A batch order, loss weighting or statistic that was wrong
// would move them by far more from the first epoch on.

TEST_CASE("lowbit-train on 3 ranks gives one process's LeNet-5 metrics, float and DST",
          "[mpi][apps][train]") {
  if (!mpi_runs_available("lowbit-train on 3 ranks")) return;
  // 20 batches of 50 a epoch, split 16, 17 and 17 images: unequal shards.
  const fs::path one = temp_root.fresh("lenet_one"), three = temp_root.fresh("lenet_three");
  run_ok(train(0, lenet("--epochs 3 --out " + one.string())));
  const CommandResult r = run_ok(train(3, lenet("--epochs 3 --out " + three.string())));
  CHECK(r.output.find("data parallel: 3 ranks x 1 threads") != std::string::npos);
  CHECK(count_occurrences(r.output, "epoch 3/3  train loss") == 1);  // rank 0 alone prints
  // Without batch norm (LeNet-5 with ReLU) nothing but summation order differs: the metrics agree
  // to the last digit metrics.csv keeps, to 1e-5 here.
  check_same_metrics(one, three, {1e-5, 0.0});
  CHECK(summary(three)["world_size"] == 3);
  CHECK(summary(one)["world_size"] == 1);

  // DST with the power-of-two activation and its batch norm, synchronized: grid states move by
  // counter-based draws on the summed gradients, alike on every rank (the replicas' check after
  // every epoch would end the run otherwise). Near-threshold activations and transitions let the
  // runs drift by up to 1% of the loss and 3 of 200 validation images by the third epoch.
  const std::string dst = "--weights pow2 --act pow2 --sync-bn --epochs 3 ";
  const fs::path dst_one = temp_root.fresh("dst_one"), dst_three = temp_root.fresh("dst_three");
  run_ok(train(0, lenet(dst + "--out " + dst_one.string())));
  run_ok(train(3, lenet(dst + "--out " + dst_three.string())));
  check_same_metrics(dst_one, dst_three, {1e-2, 1.5});
  CHECK(metrics(dst_one)[0][1] == Approx(metrics(dst_three)[0][1]).epsilon(1e-4));  // epoch 1
  CHECK(summary(dst_three)["sync_bn"] == true);
}

TEST_CASE("lowbit-train on 2 ranks with --sync-bn gives one process's ResNet-20 metrics",
          "[mpi][apps][train]") {
  if (!mpi_runs_available("lowbit-train on 2 ranks")) return;
    // 8 batches of 32 a epoch; batch norm normalizes with the whole batch's statistics, summed over
    // the ranks in double precision, so only summation order separates the runs. Under the
    // sanitizers (-O1, every access checked) ResNet-20 trains about 10x slower: one epoch there
    // finds what three would, in CI's time.
#ifdef LOWBIT_SANITIZE
  const std::string flags = "--sync-bn --epochs 1 ";
#else
  const std::string flags = "--sync-bn --epochs 3 ";
#endif
  const fs::path one = temp_root.fresh("resnet_one"), two = temp_root.fresh("resnet_two");
  const std::string adam = "--optimizer adam --lr 0.001 ";
  run_ok(train(0, resnet20(adam + flags + "--out " + one.string())));
  run_ok(train(2, resnet20(adam + flags + "--out " + two.string())));
  check_same_metrics(one, two, {1e-2, 3.2});  // 2 of 64 validation images
  CHECK(metrics(one)[0][1] == Approx(metrics(two)[0][1]).epsilon(1e-4));

  // DST with the power-of-two activation: a weight jumps when its draw falls below a probability
  // computed from the summed gradient, and an activation changes level when its input crosses a
  // threshold, so a last-bit difference changes a few jumps and levels, and training carries those
  // on. One process on 2 threads instead of 1 drifts as far on this run (measured while writing the
  // test: train losses 3e-3 apart after the first epoch and 2% after the second, validation
  // accuracies up to 17 points apart on 64 images with ReLU activations): the ranks compute the
  // same algorithm, within the spread that summation order alone gives it.
  const std::string dst = "--weights pow2 --act pow2 " + flags;
  const fs::path dst_one = temp_root.fresh("resnet_dst_one"),
                 dst_two = temp_root.fresh("resnet_dst_two");
  run_ok(train(0, resnet20(dst + "--out " + dst_one.string())));
  run_ok(train(2, resnet20(dst + "--out " + dst_two.string())));
  check_same_metrics(dst_one, dst_two, {5e-2, 10.0});

  // Without --sync-bn each rank normalizes with its own shard's statistics, as PyTorch's
  // DistributedDataParallel does: another computation, whose numbers differ from the first step.
  const fs::path per_rank = temp_root.fresh("resnet_per_rank");
  run_ok(train(2, resnet20(adam + "--epochs 1 --out " + per_rank.string())));
  INFO(read_text(per_rank / "metrics.csv"));
  CHECK(std::fabs(metrics(per_rank)[0][1] - metrics(one)[0][1]) > 1e-3);
  CHECK(summary(per_rank)["sync_bn"] == false);
}

TEST_CASE("a killed rank ends the job, and --resume finishes it as if nothing happened",
          "[mpi][apps][train]") {
  if (!mpi_runs_available("killing a rank")) return;
  const fs::path whole = temp_root.fresh("whole"), killed = temp_root.fresh("killed");
  const std::string flags = "--epochs 6 ";
  run_ok(train(2, lenet(flags + "--out " + whole.string())));
  // Rank 1 is killed once the first checkpoint is there, in the second epoch.
  const CommandResult r = run_command(
      signal_rank1_when_saved(train(2, lenet(flags + "--out " + killed.string())), killed, "KILL"));
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("exited on signal 9") != std::string::npos);  // mpirun names the rank
  REQUIRE(fs::exists(killed / "last.ckpt"));
  CHECK_FALSE(fs::exists(killed / "summary.json"));
  const CommandResult resumed = run_ok(train(2, "--resume --out " + killed.string()));
  CHECK(resumed.output.find("resumed from") != std::string::npos);
  CHECK(metrics(killed) == metrics(whole));  // the same ranks: the same bits
  CHECK(summary(killed)["test_loss"] == summary(whole)["test_loss"]);
}

TEST_CASE("a rank that hangs ends the job after --collective-timeout", "[mpi][apps][train]") {
  if (!mpi_runs_available("a hung rank")) return;
  const fs::path hung = temp_root.fresh("hung");
  // Rank 1 is stopped (SIGSTOP) after the first checkpoint: rank 0 waits in its next collective.
  const CommandResult r = run_command(signal_rank1_when_saved(
      train(2, lenet("--epochs 50 --collective-timeout 2 --out " + hung.string())), hung, "STOP"));
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("lowbit-train: rank 0 of 2: the gradient all-reduce: rank 0 waited 2 s for "
                      "the other ranks: one of them has died or hangs") != std::string::npos);
  // The job ends through MPI_Abort; mpirun's own report of it is not checked: whether it prints
  // "MPI_ABORT was invoked" before it tears down the stopped rank varies from run to run.
  // What was saved is whole: the run goes on from it.
  run_ok(train(2, "--resume --epochs 3 --out " + hung.string()));
}

TEST_CASE("a resumed run keeps its number of ranks unless --reshard", "[mpi][apps][train]") {
  if (!mpi_runs_available("resuming on other ranks")) return;
  const fs::path run = temp_root.fresh("resharded");
  run_ok(train(2, lenet("--epochs 2 --stop-after 1 --out " + run.string())));
  for (int ranks : {0, 3}) {
    const CommandResult r = run_command(train(ranks, "--resume --out " + run.string()));
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(count_occurrences(r.output, "last.ckpt: the run trained on 2 ranks, and this is ") == 1);
    CHECK(r.output.find("resume it with mpirun -np 2, or pass --reshard") != std::string::npos);
  }
  const CommandResult r = run_ok(train(3, "--resume --reshard --out " + run.string()));
  CHECK(r.output.find("(trained on 2 ranks, now 3)") != std::string::npos);
  CHECK(summary(run)["world_size"] == 3);
}

TEST_CASE("a data-parallel run that cannot start says why once", "[mpi][apps][train]") {
  if (!mpi_runs_available("setup errors on 2 ranks")) return;
  const CommandResult small =
      run_command(train(2, lenet("--out " + temp_root.fresh("small").string(), 3)));
  INFO(small.output);
  CHECK(small.status == 2);
  CHECK(count_occurrences(small.output,
                          "lowbit-train: --batch-size 3 on 2 ranks: each rank needs "
                          "at least 2 images of every batch; expected at least 4") == 1);
  // Rank 0 alone takes the run directory's lock: a live run's lock stops every rank.
  const fs::path live = temp_root.fresh("live");
  const lowbit::RunLock lock(live.string(), "lowbit-train");
  const CommandResult locked = run_command(train(2, lenet("--out " + live.string())));
  INFO(locked.output);
  CHECK(locked.status == 2);
  CHECK(count_occurrences(locked.output, "lowbit-train: ") == 1);
  CHECK(locked.output.find(": in use by another run (") != std::string::npos);
  // A program that runs as one process refuses to run as several.
  const CommandResult eval = run_command(mpirun(2) + LOWBIT_EVAL_BIN + " --checkpoint x.ckpt");
  CHECK(eval.status != 0);
  CHECK(count_occurrences(eval.output, "lowbit-eval: started as 2 processes by an MPI launcher") ==
        1);
}
