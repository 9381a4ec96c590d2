// lowbit-quantize: converts a float lowbit-train checkpoint into an n-bit one by the FAT method
// (Goncharenko et al.): fold BN (eq. 10-11), optionally rescale depthwise-separable pairs (3.3.1),
// calibrate max thresholds (eq. 2, 6), evaluate float and naive quantization, fine-tune only the
// threshold scales on the RMSE to the float logits (eq. 24-25, no labels) with Adam and warm
// restarts (4.1.2), move input thresholds off rounding ties (models/transforms/rounding_ties.h),
// evaluate again, and run the result integer-only (models/transforms/integer_model.h) beside its
// simulation. Output directory: config.json, metrics.csv, quantized.ckpt, summary.json,
// accuracy.{txt,csv,json}, and lowbit.lock, locked while the program runs (core/run_lock.h). Under
// mpirun -np N every rank calibrates alike, the fine-tuning and the evaluations are split over the
// N ranks (each reads its shard of every batch), and rank 0 alone writes the output and prints.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/progress.h"
#include "apps/fat/quantize_config.h"
#include "apps/fat/quantize_finetune.h"
#include "apps/fat/quantize_model.h"
#include "apps/fat/quantize_report.h"
#include "apps/train/data_parallel.h"
#include "apps/train/evaluate.h"
#include "apps/train/imported_model.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/run_lock.h"
#include "data/datasets.h"
#include "data/split.h"
#include "models/transforms/integer_model.h"
#include "models/transforms/rounding_ties.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

// The images of every batch of `data`, in order (calibration needs them as tensors).
std::vector<Tensor> image_batches(const Dataset& data, int64_t batch_size,
                                  const DatasetInfo& info) {
  auto loader = make_eval_loader(data, batch_size, info);
  loader->start_epoch(0);
  std::vector<Tensor> batches;
  Batch batch;
  while (loader->next(batch)) batches.push_back(batch.images);
  return batches;
}

struct QuantizeData {
  Dataset calibration, fine_tune, tie_check, held_out, test;
  std::string held_out_name;
};

// The split lowbit-train used (same validation hold-out), classes interleaved so that every prefix
// holds every class: calibration and fine-tuning images from the training part, the held-out RMSE
// images from the validation part (the test set when the run held none out).
QuantizeData load_quantize_data(const QuantizeConfig& q, const TrainConfig& train) {
  const std::string dir = resolve_data_dir(train.dataset, train.data_dir);
  TrainTest both = load_dataset(train.dataset, dir);
  TrainValSplit split = split_validation(both.train, train.val_split, train.seed);
  const Dataset pool = interleave_classes(split.train);
  QuantizeData d;
  d.calibration = take_first(pool, q.calibration_images);
  const auto fine_tune =
      std::max<int64_t>(1, std::llround(q.data_fraction * static_cast<double>(pool.size())));
  d.fine_tune = take_first(pool, fine_tune);
  if (q.tie_images > 0)
    d.tie_check = take_first(pool, q.tie_images);  // take_first(0) is everything
  d.held_out_name = split.val.size() > 0 ? "validation" : "test";
  d.held_out = take_first(
      split.val.size() > 0 ? interleave_classes(split.val) : interleave_classes(both.test),
      q.rmse_images);
  d.test = std::move(both.test);
  std::printf(
      "data: %s from %s: %lld calibration, %lld fine-tuning (%.3g of %lld training), %lld held-out "
      "(%s), "
      "%lld test images\n",
      train.dataset.c_str(), dir.c_str(), static_cast<long long>(d.calibration.size()),
      static_cast<long long>(d.fine_tune.size()), q.data_fraction,
      static_cast<long long>(pool.size()), static_cast<long long>(d.held_out.size()),
      d.held_out_name.c_str(), static_cast<long long>(d.test.size()));
  return d;
}

AccuracyRow accuracy_row(const std::string& stage, const Evaluation& e, double rmse) {
  const AccuracyRow row{stage, e.accuracy, e.loss, rmse};
  std::printf("%-12s test accuracy %6.2f%%  loss %.4f  held-out logits RMSE %.5f\n", stage.c_str(),
              row.accuracy, row.loss, row.rmse);
  std::fflush(stdout);
  return row;
}

AccuracyRow evaluate_row(const std::string& stage, Module& model, Module& teacher,
                         BatchLoader& test, BatchLoader& held_out, int64_t classes,
                         bool is_teacher) {
  return accuracy_row(stage, evaluate(model, test, classes),
                      is_teacher ? 0.0 : logits_rmse(teacher, model, held_out));
}

// What the run needs, set up alike on every rank: the float model, the data, and the naive
// quantized model.
struct QuantizeRun {
  TrainedModel teacher;
  TrainConfig train;
  std::unique_ptr<RunLock> lock;  // rank 0's, for the run's life
  DatasetInfo info;
  QuantizeData data;
  QuantizedModel q;
};

void set_up(QuantizeConfig& config, QuantizeRun& run) {
  const bool rank0 = world().rank() == 0;  // alone writes the output
  run.teacher = load_trained_model(config.checkpoint);
  TrainConfig& train = run.train;
  train = run.teacher.config;
  LOWBIT_CHECK(train.weights == "float" && train.act == "relu", config.checkpoint,
               ": a run with --weights ", train.weights, " --act ", train.act,
               "; expected a float checkpoint (--weights float --act relu)");
  if (!config.data_dir.empty()) train.data_dir = config.data_dir;
  config.resolve(train.model, train.dataset);
  const fs::path out = config.out;
  if (rank0) {
    std::error_code error;
    fs::create_directories(out, error);
    LOWBIT_CHECK(!error, out.string(), ": cannot create the output directory: ", error.message());
    // Held to the end: a second lowbit-quantize into the same directory stops here (status 2).
    run.lock = std::make_unique<RunLock>(out.string(), "lowbit-quantize");
    LOWBIT_CHECK(config.overwrite || !fs::exists(out / "quantized.ckpt"), out.string(),
                 " already holds a quantized model: pass --overwrite or another --out");
  }
  const std::string resolved = to_json(config).dump(2);
  std::printf("lowbit-quantize configuration:\n%s\n", resolved.c_str());
  if (rank0) write_file_atomic((out / "config.json").string(), resolved + "\n");
  if (is_imported(train)) {
    std::printf("float model: imported from ONNX (lowbit-import), on %s, from %s\n",
                train.dataset.c_str(), config.checkpoint.c_str());
  } else {
    std::printf("float model: %s on %s from %s (%d epochs, %.1f s of training)\n",
                train.model.c_str(), train.dataset.c_str(), config.checkpoint.c_str(),
                run.teacher.progress.epochs_done, run.teacher.progress.train_seconds);
  }
  run.info = run_dataset_info(train);
  run.data = load_quantize_data(config, train);
  // Fold, rescale, calibrate: the naive max-threshold model. Every rank calibrates on all the
  // calibration images (a hundred or so: cheaper than any collective), so that every rank's
  // thresholds are the same bits.
  run.q = quantize_model(load_trained_model(config.checkpoint).model, train, config,
                         image_batches(run.data.calibration, config.eval_batch_size, run.info));
}

// The ranks of the run, as it prints them ("" in one process).
std::string ranks_line(const QuantizeConfig& config) {
  const Communicator& ranks = world();
  if (!ranks.distributed()) return "";
  return concat("data parallel: ", ranks.size(), " ranks x ", num_threads(),
                " threads; each rank fine-tunes on 1/", ranks.size(), " of every batch of ",
                config.batch_size, " and evaluates 1/", ranks.size(),
                " of every test and held-out batch; calibration and the rounding-tie check run "
                "on every rank, on all their images");
}

// Sums over the ranks (every rank's shards of the evaluations); the value itself in one process.
int64_t sum_over_ranks(int64_t value, const char* what) {
  world().allreduce_sum(&value, 1, what);
  return value;
}

int run(QuantizeConfig config) {
  QuantizeRun run;
  // A failure on any rank (its data, rank 0's lock) ends every rank here with one message.
  world().agree([&] { set_up(config, run); });
  const bool rank0 = world().rank() == 0;  // alone writes the output
  const TrainConfig& train = run.train;
  const TrainedModel& teacher = run.teacher;
  const QuantizeData& data = run.data;
  const DatasetInfo& info = run.info;
  QuantizedModel& q = run.q;
  const fs::path out = config.out;
  std::printf("BN folding: %lld folded (max |folded - unfolded| %.3g of output scale %.3g)",
              static_cast<long long>(q.fold.folded), q.fold.max_abs_difference,
              q.fold.max_abs_output);
  for (const std::string& name : q.fold.unfolded) std::printf(", left: %s", name.c_str());
  std::printf("\n");
  for (const DwsRescaling& r : q.rescaled)
    std::printf(
        "rescaled %s -> %s: %lld of %lld channels locked, filter range spread %.3g -> %.3g\n",
        r.depthwise.c_str(), r.next.c_str(), static_cast<long long>(r.locked),
        static_cast<long long>(r.channels), r.spread_before, r.spread_after);
  if (config.rescale_dws && q.rescaled.empty())
    std::printf("--rescale-dws: no depthwise-separable pair found\n");
  std::printf("quantizers on %zu layers: weights %s; inputs %s (signed or unsigned per layer)\n",
              q.layers.size(), q.layers.empty() ? "-" : q.layers.front().weight->describe().c_str(),
              q.layers.empty() ? "-" : q.layers.front().input->describe().c_str());
  const std::string ranks_text = ranks_line(config);
  if (!ranks_text.empty()) std::printf("%s\n", ranks_text.c_str());

  // Under mpirun every evaluation reads this rank's shard of each batch and sums over the ranks.
  auto test_loader = sharded_eval_loader(data.test, config.eval_batch_size, info);
  auto held_out_loader = sharded_eval_loader(data.held_out, config.eval_batch_size, info);
  std::vector<AccuracyRow> rows;
  rows.push_back(evaluate_row("float", *teacher.model, *teacher.model, *test_loader,
                              *held_out_loader, info.num_classes, true));
  rows.push_back(evaluate_row("naive", *q.model, *teacher.model, *test_loader, *held_out_loader,
                              info.num_classes, false));

  // Fine-tuning of the scales (labels never read).
  BatchLoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.shuffle = true;
  loader_options.seed = config.seed;
  shard_for_this_rank(loader_options);  // the global batch stays --batch-size
  BatchLoader fine_tune_loader(data.fine_tune, normalization(info), loader_options);
  FineTuneOptions options{config.epochs, config.lr, config.restart_epochs, config.restart_mult};
  double fine_tune_seconds = 0;
  std::vector<FineTuneEpoch> so_far;
  const std::vector<FineTuneEpoch> history = fine_tune_scales(
      *teacher.model, *q.model, fine_tune_loader, *held_out_loader, options,
      [&](const FineTuneEpoch& m) {
        so_far.push_back(m);
        fine_tune_seconds += m.seconds;
        if (rank0) write_file_atomic((out / "metrics.csv").string(), fine_tune_metrics_csv(so_far));
        const double eta = fine_tune_seconds / m.epoch * (config.epochs - m.epoch);
        std::printf(
            "fine-tune %d/%d  train RMSE %.5f  held-out RMSE %.5f  lr %.3g  %.1f s  %.0f img/s  "
            "ETA %s\n",
            m.epoch, config.epochs, m.train_rmse, m.held_out_rmse, m.lr, m.seconds,
            m.images_per_second, format_duration(eta).c_str());
        std::fflush(stdout);
      });
  if (history.empty() && rank0)
    write_file_atomic((out / "metrics.csv").string(), fine_tune_metrics_csv(history));
  // Thresholds off the rounding ties on which the simulation and the integer program would differ.
  // Every rank checks all the images, so that every rank moves the same thresholds.
  std::vector<TieCheck> tie_checks;
  double tie_seconds = 0;
  if (config.tie_images > 0) {
    const auto tie_start = std::chrono::steady_clock::now();
    tie_checks =
        clear_rounding_ties(*q.model, image_batches(data.tie_check, config.eval_batch_size, info));
    tie_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - tie_start).count();
    std::printf("%s", tie_clearance_text(tie_checks, data.tie_check.size(), tie_seconds).c_str());
  }
  // The fine-tuned model and its integer-only inference (int codes, int32 accumulators, fixed-point
  // requantization) in one pass over the test set: the predictions must agree.
  IntegerModel integer(*q.model);
  const auto integer_start = std::chrono::steady_clock::now();
  const PairedEvaluation tuned = evaluate_pair(*q.model, integer, *test_loader, info.num_classes);
  rows.push_back(accuracy_row("fine-tuned", tuned.first,
                              logits_rmse(*teacher.model, *q.model, *held_out_loader)));
  rows.push_back(accuracy_row("integer", tuned.second,
                              logits_rmse(*teacher.model, integer, *held_out_loader)));
  const Agreement& agreement = tuned.agreement;
  const double integer_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - integer_start).count();
  const int64_t saturated =
      sum_over_ranks(integer.saturated_values(), "the integer model's clamped values");
  std::printf(
      "integer-only inference: %zu layers; predictions agree with the simulated model on %.2f%% "
      "of %lld test images (max |logit difference| %.3g, %lld values clamped to the fixed-point "
      "range); %.1f s for both models' pass\n",
      integer.quantized_layers().size(), agreement.percent(),
      static_cast<long long>(agreement.count), agreement.max_abs_logit_difference,
      static_cast<long long>(saturated), integer_seconds);
  if (!rank0) return 0;

  save_quantized_checkpoint((out / "quantized.ckpt").string(), q);
  char title[256];
  std::snprintf(title, sizeof title, "%s on %s, %d-bit %s %s%s%s: test accuracy (%lld images)",
                train.model.c_str(), train.dataset.c_str(), config.bits, config.mode.c_str(),
                config.thresholds.c_str(), config.rescale_dws ? ", rescaled DWS" : "",
                config.train_weight_scales ? ", point-wise weight scales" : "",
                static_cast<long long>(data.test.size()));
  const std::string table = accuracy_table_text(title, rows);
  write_file_atomic((out / "accuracy.txt").string(), table);
  write_file_atomic((out / "accuracy.csv").string(), accuracy_table_csv(rows));
  write_file_atomic((out / "accuracy.json").string(), accuracy_table_json(rows).dump(2) + "\n");

  int64_t scales = 0;
  for (const Parameter& p : q.model->parameters())
    if (p.role == ParamRole::kQuantScale) scales += p.tensor.numel();
  const nlohmann::json summary = {
      {"model", train.model},
      {"dataset", train.dataset},
      {"checkpoint", config.checkpoint},
      {"bits", config.bits},
      {"mode", config.mode},
      {"thresholds", config.thresholds},
      {"rescale_dws", config.rescale_dws},
      {"train_weight_scales", config.train_weight_scales},
      {"bn_folded", q.fold.folded},
      {"bn_unfolded", q.fold.unfolded},
      {"dws_pairs_rescaled", q.rescaled.size()},
      {"quantized_layers", q.layers.size()},
      {"trained_scales", scales},
      {"calibration_images", data.calibration.size()},
      {"fine_tune_images", data.fine_tune.size()},
      {"held_out_images", data.held_out.size()},
      {"held_out_set", data.held_out_name},
      {"epochs", config.epochs},
      {"float_accuracy", rows[0].accuracy},
      {"naive_accuracy", rows[1].accuracy},
      {"fine_tuned_accuracy", rows[2].accuracy},
      {"integer_accuracy", rows[3].accuracy},
      {"integer_agreement", agreement.percent()},
      {"integer_max_logit_difference", agreement.max_abs_logit_difference},
      {"integer_saturated_values", saturated},
      {"naive_rmse", rows[1].rmse},
      {"fine_tuned_rmse", rows[2].rmse},
      {"accuracy", accuracy_table_json(rows)},
      {"fine_tune_seconds", fine_tune_seconds},
      {"rounding_ties", tie_clearance_json(tie_checks, data.tie_check.size(), tie_seconds)},
      {"float_train_seconds", teacher.progress.train_seconds},
      {"threads", num_threads()},
      {"world_size", world().size()},
      {"seed", config.seed}};
  write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");

  std::printf("\n%s", table.c_str());
  if (is_imported(train)) {
    std::printf("fine-tuning took %.1f s\n", fine_tune_seconds);
  } else {
    std::printf("fine-tuning took %.1f s (the float training %.1f s)\n", fine_tune_seconds,
                teacher.progress.train_seconds);
  }
  std::printf(
      "output %s: quantized.ckpt summary.json accuracy.txt accuracy.csv accuracy.json metrics.csv "
      "config.json\n",
      out.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(
      argc, argv, "lowbit-quantize",
      "lowbit-quantize: n-bit quantization of a float lowbit-train checkpoint with trained "
      "thresholds (FAT)",
      add_quantize_flags, run, Ranks::kMany);
}
