// lowbit-train: trains a model of the zoo on a data set. Build data, model, optimizers;
// for each epoch: train, validate, checkpoint; at the end, test and summarize.
// Run directory: config.json, metrics.csv, curves.svg, last.ckpt, best.ckpt,
// test_confusion.csv, summary.json, and lowbit.lock, locked while the run lives (core/run_lock.h).
// Under mpirun -np N the N processes train one model (data parallelism, docs/training.md): each
// reads its shard of every batch, the gradients are summed over them, and rank 0 alone writes the
// run directory and prints.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "apps/common/cli_main.h"
#include "apps/train/bn_recalibration.h"
#include "apps/train/data_parallel.h"
#include "apps/train/evaluate.h"
#include "apps/train/imported_model.h"
#include "apps/train/recipes.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "apps/train/train_epoch.h"
#include "apps/train/training_checkpoint.h"
#include "core/check.h"
#include "core/distributed/communicator.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/run_lock.h"
#include "data/batch_loader.h"
#include "data/datasets.h"
#include "data/split.h"
#include "models/model_zoo.h"
#include "models/summary.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

constexpr const char* kProgram = "lowbit-train";

int list_models() {
  for (const ModelEntry& e : model_table())
    std::printf("%-12s %s\n", e.name.c_str(), e.description.c_str());
  return 0;
}

// On --resume the run continues with its saved configuration: a flag given with it must
// either be one that may change (epochs to extend a run, threads, where the data is) or
// repeat the saved value.
void check_resume_flags(const CLI::App& app, const TrainConfig& given, const TrainConfig& saved) {
  static const std::set<std::string> may_change = {"resume",   "out",       "epochs",    "threads",
                                                   "data_dir", "overwrite", "stop_after"};
  const nlohmann::json given_json = to_json(given), saved_json = to_json(saved);
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0) continue;
    const std::string key = train_flag_key(*option);
    if (may_change.count(key) > 0 || !saved_json.contains(key)) continue;
    LOWBIT_CHECK(
        given_json.at(key) == saved_json.at(key), option->get_name(), " ",
        given_json.at(key).dump(), " differs from the resumed run's ", saved_json.at(key).dump(),
        ": a resumed run keeps its configuration (--epochs, --threads and --data-dir may change)");
  }
}

struct RunData {
  DatasetInfo info;
  Dataset train, val, test;
};

RunData load_run_data(const TrainConfig& config) {
  RunData d;
  d.info = run_dataset_info(config);
  const std::string dir = resolve_data_dir(config.dataset, config.data_dir);
  std::printf("data: %s from %s\n", config.dataset.c_str(), dir.c_str());
  TrainTest both = load_dataset(config.dataset, dir);
  TrainValSplit split = split_validation(both.train, config.val_split, config.seed);
  d.train = take_first(split.train, config.train_subset);
  d.val = std::move(split.val);
  d.test = std::move(both.test);
  std::printf("data: %lld training, %lld validation, %lld test images of %lldx%lldx%lld\n",
              static_cast<long long>(d.train.size()), static_cast<long long>(d.val.size()),
              static_cast<long long>(d.test.size()), static_cast<long long>(d.info.channels),
              static_cast<long long>(d.info.side), static_cast<long long>(d.info.side));
  return d;
}

// The flags that say what lowbit-train does rather than how the run trains (TrainConfig).
struct ProgramFlags {
  bool resume = false, overwrite = false, summary_only = false, list_models = false,
       list_recipes = false, reshard = false;
  int stop_after = 0;
};

// A run set up alike on every rank: its directory (locked by rank 0), data, model, optimizers,
// loaders and progress so far. Built in place (the loaders keep references to the data).
struct TrainingRun {
  TrainConfig config;
  bool resume = false;
  std::unique_ptr<RunLock> lock;  // rank 0's, for the run's life
  RunData data;
  std::shared_ptr<Module> model, teacher;
  std::vector<std::unique_ptr<Optimizer>> owned_optimizers;
  std::vector<Optimizer*> optimizers;
  std::unique_ptr<BatchLoader> train_loader, val_loader, test_loader, recalibration_loader;
  int64_t recalibration_batches = 0;
  std::unique_ptr<LrScheduler> scheduler;
  RunProgress progress;
  nlohmann::json config_json;
  ModelSummary model_summary;
};

// The ranks of the run, as the start of the run prints them ("" in one process). The cores each
// rank may use are mpirun's choice (--bind-to, --map-by): more threads than cores share them.
std::string ranks_line(const TrainConfig& config) {
  const Communicator& ranks = world();
  if (!ranks.distributed()) return "";
  return concat("data parallel: ", ranks.size(), " ranks x ", num_threads(),
                " threads (rank 0 may run on ", usable_cores(), " cores; ", ranks.local_size(),
                " ranks on its machine); each rank reads 1/", ranks.size(), " of every batch of ",
                config.batch_size, ", batch norm ",
                config.sync_bn ? "synchronized over the ranks (--sync-bn)" : "per rank");
}

void set_up(TrainingRun& run, bool reshard) {
  const TrainConfig& config = run.config;
  Communicator& ranks = world();
  if (config.tta_flip) check_tta_flip_allowed(config.dataset);
  LOWBIT_CHECK(!ranks.distributed() || config.batch_size >= 2 * ranks.size(), "--batch-size ",
               config.batch_size, " on ", ranks.size(),
               " ranks: each rank needs at least 2 images of every batch; expected at least ",
               2 * ranks.size());
  run.data = load_run_data(config);
  RunData& data = run.data;
  manual_seed(config.seed);
  run.model = build_model(config, data.info);
  if (config.sync_bn) synchronize_batch_norms(*run.model, &ranks);
  // A resumed run's weights come from its own checkpoint below.
  if (!config.init_from.empty() && !run.resume)
    std::printf("%s\n", initialize_from_checkpoint(*run.model, config).c_str());
  run.teacher = config.teacher.empty() ? nullptr : load_teacher(config);
  if (run.teacher) {
    std::printf("distilling from %s: loss = %.3g cross-entropy + %.3g T^2 KL at T = %.3g\n",
                config.teacher.c_str(), 1.0 - config.distill_weight,
                static_cast<double>(config.distill_weight),
                static_cast<double>(config.distill_temperature));
  }
  run.owned_optimizers = build_optimizers(config, *run.model);
  for (auto& o : run.owned_optimizers) run.optimizers.push_back(o.get());

  BatchLoaderOptions train_options;
  train_options.batch_size = config.batch_size;
  train_options.shuffle = true;
  // A last batch that would give a rank a single image would give batch norm a single sample:
  // drop it then only (in one process: a last batch of one image).
  const int64_t last = data.train.size() % config.batch_size;
  train_options.drop_last = last > 0 && last < 2 * ranks.size();
  if (config.augment) {
    LOWBIT_CHECK(config.flip == "random" || config.flip == "alternate", "--flip ", config.flip,
                 ": expected random or alternate");
    const int64_t crop = config.crop_padding >= 0 ? config.crop_padding : data.info.crop_padding;
    train_options.augment =
        AugmentOptions{crop, data.info.horizontal_flip, config.flip == "alternate"};
  }
  train_options.seed = config.seed;
  shard_for_this_rank(train_options);
  run.train_loader =
      std::make_unique<BatchLoader>(data.train, normalization(data.info), train_options);
  if (data.val.size() > 0)
    run.val_loader = sharded_eval_loader(data.val, config.batch_size, data.info);
  run.test_loader = sharded_eval_loader(data.test, config.batch_size, data.info);
  // Batch-norm re-estimation reads the first images of the training split, unaugmented.
  if (config.recalibrate_bn > 0)
    run.recalibration_loader = sharded_eval_loader(data.train, config.batch_size, data.info);
  run.recalibration_batches = (config.recalibrate_bn + config.batch_size - 1) / config.batch_size;
  LOWBIT_CHECK(run.train_loader->batches_per_epoch() > 0, "the training set has ",
               data.train.size(), " images: too few for one batch");
  run.scheduler = std::make_unique<LrScheduler>(
      run.optimizers, build_schedule(config, run.train_loader->batches_per_epoch()));

  const std::string last_path = (fs::path(config.out) / "last.ckpt").string();
  if (run.resume) {
    run.progress = read_training_checkpoint(last_path).progress;
    // The global batches are the same on any number of ranks, but the numbers are not: batch norm
    // normalizes each rank's shard (without --sync-bn), and sums run in another order.
    LOWBIT_CHECK(reshard || run.progress.world_size == ranks.size(), last_path,
                 ": the run trained on ", run.progress.world_size, " rank",
                 run.progress.world_size == 1 ? "" : "s", ", and this is ", ranks.size(),
                 ": resume it with mpirun -np ", run.progress.world_size,
                 ", or pass --reshard to go on with every batch split among ", ranks.size(),
                 " rank", ranks.size() == 1 ? "" : "s");
    restore_training_checkpoint(last_path, *run.model, run.optimizers, true);
    std::printf(
        "resumed from %s after epoch %d%s\n", last_path.c_str(), run.progress.epochs_done,
        run.progress.world_size == ranks.size()
            ? ""
            : concat(" (trained on ", run.progress.world_size, " ranks, now ", ranks.size(), ")")
                  .c_str());
  }
  run.progress.world_size = ranks.size();
  run.config_json = to_json(config);
  run.model_summary = summarize(*run.model, data.info.channels, data.info.side);
}

int train(TrainingRun& run, int stop_after) {
  const TrainConfig& config = run.config;
  const RunData& data = run.data;
  Module& model = *run.model;
  RunProgress& progress = run.progress;
  Communicator& ranks = world();
  const bool rank0 = ranks.rank() == 0;  // alone writes the run's files
  const fs::path out = config.out;
  const std::string last_path = (out / "last.ckpt").string(),
                    best_path = (out / "best.ckpt").string();

  // Printed and saved once everything above has loaded, so that a run that cannot start (no data,
  // a bad checkpoint to start from) prints only its error.
  if (!config.recipe.empty())
    std::printf(
        "recipe: %s (flags given on the command line override its values; see --list-recipes)\n",
        config.recipe.c_str());
  std::printf("%s configuration:\n%s\n", kProgram, run.config_json.dump(2).c_str());
  if (rank0) write_file_atomic((out / "config.json").string(), run.config_json.dump(2) + "\n");
  std::printf("model: %s, %lld parameters, %lld MACs per image; %d threads (OpenBLAS core %s)\n",
              config.model.c_str(), static_cast<long long>(run.model_summary.parameters),
              static_cast<long long>(run.model_summary.macs), num_threads(), blas_core_name());
  const std::string ranks_text = ranks_line(config);
  if (!ranks_text.empty()) std::printf("%s\n", ranks_text.c_str());

  const TrainLoss loss{config.label_smoothing, run.teacher.get(), config.distill_weight,
                       config.distill_temperature};
  int64_t step = progress.steps_done;
  const int last_epoch =
      stop_after > 0 ? std::min(config.epochs, progress.epochs_done + stop_after) : config.epochs;
  for (int epoch = progress.epochs_done + 1; epoch <= last_epoch; ++epoch) {
    const std::string label =
        "epoch " + std::to_string(epoch) + "/" + std::to_string(config.epochs);
    const EpochResult trained = train_epoch(model, *run.train_loader, epoch - 1, run.optimizers,
                                            *run.scheduler, step, loss, label);
    EpochMetrics m;
    m.epoch = epoch;
    m.train_loss = trained.loss;
    m.train_accuracy = trained.accuracy;
    m.lr = trained.lr;
    m.seconds = trained.seconds;
    m.images_per_second =
        trained.seconds > 0 ? static_cast<double>(trained.images) / trained.seconds : 0;
    if (run.recalibration_loader)
      recalibrate_batch_norm(model, *run.recalibration_loader, run.recalibration_batches);
    average_batch_norm_statistics(model, ranks);
    if (data.val.size() > 0) {
      const Evaluation val =
          evaluate(model, *run.val_loader, data.info.num_classes, config.tta_flip);
      m.val_loss = val.loss;
      m.val_accuracy = val.accuracy;
    }
    check_replicas_agree(model, run.optimizers, ranks, concat("after epoch ", epoch));
    progress.epochs_done = epoch;
    progress.steps_done = step;
    progress.train_seconds += trained.seconds;
    progress.train_images += trained.images;
    progress.history.push_back(m);
    const bool best = data.val.size() > 0 && m.val_accuracy > progress.best_val_accuracy;
    if (best) {
      progress.best_val_accuracy = m.val_accuracy;
      progress.best_epoch = epoch;
      if (rank0)
        save_training_checkpoint(best_path, run.config_json, model, run.optimizers, progress);
    }
    if (rank0) {
      save_training_checkpoint(last_path, run.config_json, model, run.optimizers, progress);
      write_file_atomic((out / "metrics.csv").string(), metrics_csv(progress.history));
      write_file_atomic((out / "curves.svg").string(),
                        training_curves_svg(progress.history, config.model));
    }

    std::printf("epoch %d/%d  train loss %.4f acc %6.2f%%", epoch, config.epochs, m.train_loss,
                m.train_accuracy);
    if (data.val.size() > 0)
      std::printf("  val loss %.4f acc %6.2f%%%s", m.val_loss, m.val_accuracy, best ? " *" : "");
    std::printf("  lr %.3g  %.1f s  %.0f img/s\n", m.lr, m.seconds, m.images_per_second);
    std::fflush(stdout);
  }

  if (progress.epochs_done < config.epochs) {
    std::printf("stopped after epoch %d of %d as asked; continue with --resume --out %s\n",
                progress.epochs_done, config.epochs, out.string().c_str());
    return 0;
  }
  const Evaluation test = evaluate(model, *run.test_loader, data.info.num_classes, config.tta_flip);
  // With flip averaging, the images alone too, so that the summary shows what the averaging adds.
  const double single_view_accuracy =
      config.tta_flip ? evaluate(model, *run.test_loader, data.info.num_classes).accuracy
                      : test.accuracy;
  if (!rank0) return 0;
  write_file_atomic((out / "test_confusion.csv").string(),
                    confusion_csv(test, data.test.class_names));
  const EpochMetrics* final_metrics = progress.history.empty() ? nullptr : &progress.history.back();
  nlohmann::json summary = {
      {"model", config.model},
      {"dataset", config.dataset},
      {"epochs", progress.epochs_done},
      {"test_accuracy", test.accuracy},
      {"test_loss", test.loss},
      {"test_images", test.count},
      {"tta_flip", config.tta_flip},
      {"test_accuracy_single_view", single_view_accuracy},
      {"best_val_accuracy", progress.best_val_accuracy < 0
                                ? nlohmann::json()
                                : nlohmann::json(progress.best_val_accuracy)},
      {"best_epoch", progress.best_epoch},
      {"final_val_accuracy", data.val.size() > 0 && final_metrics
                                 ? nlohmann::json(final_metrics->val_accuracy)
                                 : nlohmann::json()},
      {"final_train_accuracy", final_metrics ? final_metrics->train_accuracy : 0.0},
      {"train_seconds", progress.train_seconds},
      {"train_images_per_second",
       progress.train_seconds > 0
           ? static_cast<double>(progress.train_images) / progress.train_seconds
           : 0.0},
      {"parameters", run.model_summary.parameters},
      {"macs_per_image", run.model_summary.macs},
      {"threads", num_threads()},
      {"world_size", ranks.size()},
      {"sync_bn", config.sync_bn},
      {"blas_core", blas_core_name()},
      {"seed", config.seed}};
  write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");

  std::printf("\nsummary: %s on %s, %d epochs, %.1f s of training (%.0f img/s%s)\n",
              config.model.c_str(), config.dataset.c_str(), progress.epochs_done,
              progress.train_seconds, summary["train_images_per_second"].get<double>(),
              ranks.distributed() ? concat(" on ", ranks.size(), " ranks").c_str() : "");
  if (progress.best_val_accuracy >= 0)
    std::printf("  best validation accuracy %.2f%% at epoch %d (%s)\n", progress.best_val_accuracy,
                progress.best_epoch, best_path.c_str());
  std::printf("  test accuracy %.2f%% (%lld images, final model)\n", test.accuracy,
              static_cast<long long>(test.count));
  if (config.tta_flip)
    std::printf(
        "    with each image's logits averaged with its mirror image's; %.2f%% on the images "
        "alone\n",
        single_view_accuracy);
  std::printf(
      "  run directory %s: summary.json metrics.csv curves.svg test_confusion.csv last.ckpt\n",
      out.string().c_str());
  return 0;
}

void add_program_flags(CLI::App& app, ProgramFlags& f) {
  app.add_flag("--resume", f.resume, "continue the run in --out from its last.ckpt");
  app.add_flag("--overwrite", f.overwrite, "start afresh even if --out already holds a run");
  app.add_option("--stop-after", f.stop_after,
                 "train at most N epochs in this invocation, then stop (resumable)")
      ->check(CLI::Range(1, 100000));
  app.add_flag("--summary", f.summary_only, "print the model summary and exit");
  app.add_flag("--list-models", f.list_models, "list the models and exit");
  app.add_flag("--list-recipes", f.list_recipes,
               "list the training recipes (values, the runs each is the default for, recorded "
               "accuracy) and exit");
  app.add_flag("--reshard", f.reshard,
               "with --resume under mpirun: go on with another number of ranks than the run "
               "trained with (every batch is split among the ranks there are now)");
}

int print_summary(const TrainConfig& config, const DatasetInfo& info) {
  auto model = build_model(config, info);
  std::printf("%s for %s (%lldx%lldx%lld input, %lld classes)\n", config.model.c_str(),
              config.dataset.c_str(), static_cast<long long>(info.channels),
              static_cast<long long>(info.side), static_cast<long long>(info.side),
              static_cast<long long>(info.num_classes));
  std::printf("%s", format_summary(summarize(*model, info.channels, info.side)).c_str());
  return 0;
}

// With --resume, the run's saved configuration with what may change (--epochs, --threads,
// --data-dir, --out) from `given`; else `given`, unless --out already holds a run. The run
// directory exists afterwards, and rank 0 has locked it before anything in it is read: a second
// run, or a --resume of a live one, ends here with status 2. The other ranks of a data-parallel run
// read the run's checkpoint when they resume (--out must then be on a file system they see).
void prepare_run_directory(const CLI::App& app, const TrainConfig& given, const ProgramFlags& flags,
                           TrainingRun& run) {
  const bool rank0 = world().rank() == 0;
  const fs::path out = given.out;
  const fs::path last = out / "last.ckpt";
  if (flags.resume) {
    LOWBIT_CHECK(fs::exists(last), last.string(),
                 ": no checkpoint to resume (run without --resume to start)");
  } else if (rank0) {
    std::error_code error;
    fs::create_directories(out, error);
    LOWBIT_CHECK(!error, out.string(), ": cannot create the run directory: ", error.message());
  }
  run.config = given;
  run.resume = flags.resume;
  if (rank0) run.lock = std::make_unique<RunLock>(out.string(), kProgram);
  if (flags.resume) {
    TrainConfig saved = read_training_checkpoint(last.string()).config;
    // --model and --dataset may be left out (the run knows them); given, they must match it.
    const bool model_given = app.count("--model") > 0, dataset_given = app.count("--dataset") > 0;
    LOWBIT_CHECK((!model_given || saved.model == given.model) &&
                     (!dataset_given || saved.dataset == given.dataset),
                 last.string(), ": holds a run of ", saved.model, " on ", saved.dataset, ", not ",
                 model_given ? given.model : saved.model, " on ",
                 dataset_given ? given.dataset : saved.dataset);
    check_resume_flags(app, given, saved);
    if (app.count("--epochs") > 0) saved.epochs = given.epochs;
    if (app.count("--threads") > 0) saved.threads = given.threads;
    if (app.count("--data-dir") > 0) saved.data_dir = given.data_dir;
    saved.out = given.out;
    run.config = saved;
    set_num_threads(run.config.threads);
  } else if (rank0) {
    LOWBIT_CHECK(flags.overwrite || !fs::exists(last), out.string(),
                 " already holds a run (last.ckpt): continue it with --resume, or pass --overwrite "
                 "or another --out");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "lowbit-train: train a model of the lowbit zoo on a data set. Every setting not given as a "
      "flag comes from "
      "the run's recipe (--list-recipes): the defaults shown below are those of no recipe"};
  TrainConfig config;
  add_train_flags(app, config);
  ProgramFlags flags;
  add_program_flags(app, flags);
  return run_cli(
      app, argc, argv, "lowbit-train",
      [&]() -> int {
        if (flags.list_models) return list_models();
        if (flags.list_recipes) {
          std::printf("%s", format_recipe_table().c_str());
          return 0;
        }
        DatasetInfo info;
        auto run = std::make_unique<TrainingRun>();
        // Every rank sets the run up; a failure on any of them (its data, rank 0's lock) ends them
        // all here with one message.
        world().agree([&] {
          // An unknown --model named as the flag, before the recipe's merge reads the settings
          // back as a stored configuration would be.
          if (config.model != kImportedModel) (void)model_entry(config.model);
          const Recipe& recipe = config.recipe.empty()
                                     ? default_recipe(config.model, config.dataset, config.weights)
                                     : find_recipe(config.recipe);
          apply_recipe(recipe, given_train_flags(app), config);
          set_num_threads(config.threads);
          config.resolve();
          info = dataset_info(config.dataset);  // an unknown data set fails here
          if (flags.summary_only) return;
          model_entry(config.model);  // an unknown name fails here, before any data is read
          prepare_run_directory(app, config, flags, *run);
          set_up(*run, flags.reshard);
        });
        if (flags.summary_only) return print_summary(config, info);
        return train(*run, flags.stop_after);
      },
      Ranks::kMany);
}
