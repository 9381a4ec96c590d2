// lowbit-train: trains a model of the zoo on a data set. Build data, model, optimizers;
// for each epoch: train, validate, checkpoint; at the end, test and summarize.
// Run directory: config.json, metrics.csv, curves.svg, last.ckpt, best.ckpt,
// test_confusion.csv, summary.json, and lowbit.lock, locked while the run lives (core/run_lock.h).
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
#include "apps/train/evaluate.h"
#include "apps/train/imported_model.h"
#include "apps/train/recipes.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "apps/train/train_config.h"
#include "apps/train/train_epoch.h"
#include "apps/train/training_checkpoint.h"
#include "core/check.h"
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

int run(const TrainConfig& config, bool resume, int stop_after) {
  const fs::path out = config.out;
  const std::string last_path = (out / "last.ckpt").string(),
                    best_path = (out / "best.ckpt").string();

  if (config.tta_flip) check_tta_flip_allowed(config.dataset);
  RunData data = load_run_data(config);
  manual_seed(config.seed);
  auto model = build_model(config, data.info);
  // A resumed run's weights come from its own checkpoint below.
  if (!config.init_from.empty() && !resume)
    std::printf("%s\n", initialize_from_checkpoint(*model, config).c_str());
  const std::shared_ptr<Module> teacher = config.teacher.empty() ? nullptr : load_teacher(config);
  if (teacher) {
    std::printf("distilling from %s: loss = %.3g cross-entropy + %.3g T^2 KL at T = %.3g\n",
                config.teacher.c_str(), 1.0 - config.distill_weight,
                static_cast<double>(config.distill_weight),
                static_cast<double>(config.distill_temperature));
  }
  auto owned_optimizers = build_optimizers(config, *model);
  std::vector<Optimizer*> optimizers;
  for (auto& o : owned_optimizers) optimizers.push_back(o.get());

  BatchLoaderOptions train_options;
  train_options.batch_size = config.batch_size;
  train_options.shuffle = true;
  // A last batch of one image would give batch norm a single sample: drop it then only.
  train_options.drop_last = data.train.size() % config.batch_size == 1;
  if (config.augment) {
    LOWBIT_CHECK(config.flip == "random" || config.flip == "alternate", "--flip ", config.flip,
                 ": expected random or alternate");
    const int64_t crop = config.crop_padding >= 0 ? config.crop_padding : data.info.crop_padding;
    train_options.augment =
        AugmentOptions{crop, data.info.horizontal_flip, config.flip == "alternate"};
  }
  train_options.seed = config.seed;
  BatchLoader train_loader(data.train, normalization(data.info), train_options);
  auto val_loader =
      data.val.size() > 0 ? make_eval_loader(data.val, config.batch_size, data.info) : nullptr;
  auto test_loader = make_eval_loader(data.test, config.batch_size, data.info);
  // Batch-norm re-estimation reads the first images of the training split, unaugmented.
  auto recalibration_loader = config.recalibrate_bn > 0
                                  ? make_eval_loader(data.train, config.batch_size, data.info)
                                  : nullptr;
  const int64_t recalibration_batches =
      (config.recalibrate_bn + config.batch_size - 1) / config.batch_size;
  LOWBIT_CHECK(train_loader.batches_per_epoch() > 0, "the training set has ", data.train.size(),
               " images: too few for one batch");
  LrScheduler scheduler(optimizers, build_schedule(config, train_loader.batches_per_epoch()));

  RunProgress progress;
  if (resume) {
    progress = read_training_checkpoint(last_path).progress;
    restore_training_checkpoint(last_path, *model, optimizers, true);
    std::printf("resumed from %s after epoch %d\n", last_path.c_str(), progress.epochs_done);
  }

  // Printed and saved once everything above has loaded, so that a run that cannot start (no data,
  // a bad checkpoint to start from) prints only its error.
  const nlohmann::json config_json = to_json(config);
  if (!config.recipe.empty())
    std::printf(
        "recipe: %s (flags given on the command line override its values; see --list-recipes)\n",
        config.recipe.c_str());
  std::printf("%s configuration:\n%s\n", kProgram, config_json.dump(2).c_str());
  write_file_atomic((out / "config.json").string(), config_json.dump(2) + "\n");
  const ModelSummary model_summary = summarize(*model, data.info.channels, data.info.side);
  std::printf("model: %s, %lld parameters, %lld MACs per image; %d threads (OpenBLAS core %s)\n",
              config.model.c_str(), static_cast<long long>(model_summary.parameters),
              static_cast<long long>(model_summary.macs), num_threads(), blas_core_name());

  const TrainLoss loss{config.label_smoothing, teacher.get(), config.distill_weight,
                       config.distill_temperature};
  int64_t step = progress.steps_done;
  const int last_epoch =
      stop_after > 0 ? std::min(config.epochs, progress.epochs_done + stop_after) : config.epochs;
  for (int epoch = progress.epochs_done + 1; epoch <= last_epoch; ++epoch) {
    const std::string label =
        "epoch " + std::to_string(epoch) + "/" + std::to_string(config.epochs);
    const EpochResult trained =
        train_epoch(*model, train_loader, epoch - 1, optimizers, scheduler, step, loss, label);
    EpochMetrics m;
    m.epoch = epoch;
    m.train_loss = trained.loss;
    m.train_accuracy = trained.accuracy;
    m.lr = trained.lr;
    m.seconds = trained.seconds;
    m.images_per_second =
        trained.seconds > 0 ? static_cast<double>(trained.images) / trained.seconds : 0;
    if (recalibration_loader)
      recalibrate_batch_norm(*model, *recalibration_loader, recalibration_batches);
    if (data.val.size() > 0) {
      const Evaluation val = evaluate(*model, *val_loader, data.info.num_classes, config.tta_flip);
      m.val_loss = val.loss;
      m.val_accuracy = val.accuracy;
    }
    progress.epochs_done = epoch;
    progress.steps_done = step;
    progress.train_seconds += trained.seconds;
    progress.train_images += trained.images;
    progress.history.push_back(m);
    const bool best = data.val.size() > 0 && m.val_accuracy > progress.best_val_accuracy;
    if (best) {
      progress.best_val_accuracy = m.val_accuracy;
      progress.best_epoch = epoch;
      save_training_checkpoint(best_path, config_json, *model, optimizers, progress);
    }
    save_training_checkpoint(last_path, config_json, *model, optimizers, progress);
    write_file_atomic((out / "metrics.csv").string(), metrics_csv(progress.history));
    write_file_atomic((out / "curves.svg").string(),
                      training_curves_svg(progress.history, config.model));

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
  const Evaluation test = evaluate(*model, *test_loader, data.info.num_classes, config.tta_flip);
  // With flip averaging, the images alone too, so that the summary shows what the averaging adds.
  const double single_view_accuracy =
      config.tta_flip ? evaluate(*model, *test_loader, data.info.num_classes).accuracy
                      : test.accuracy;
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
      {"parameters", model_summary.parameters},
      {"macs_per_image", model_summary.macs},
      {"threads", num_threads()},
      {"blas_core", blas_core_name()},
      {"seed", config.seed}};
  write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");

  std::printf("\nsummary: %s on %s, %d epochs, %.1f s of training (%.0f img/s)\n",
              config.model.c_str(), config.dataset.c_str(), progress.epochs_done,
              progress.train_seconds, summary["train_images_per_second"].get<double>());
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

// The flags that say what lowbit-train does rather than how the run trains (TrainConfig).
struct ProgramFlags {
  bool resume = false, overwrite = false, summary_only = false, list_models = false,
       list_recipes = false;
  int stop_after = 0;
};

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

// A run's configuration and the lock on its directory, held until the run ends.
struct PreparedRun {
  TrainConfig config;
  RunLock lock;
};

// With --resume, the run's saved configuration with what may change (--epochs, --threads,
// --data-dir, --out) from `given`; else `given`, unless --out already holds a run. The run
// directory exists afterwards, and is locked before anything in it is read: a second run, or a
// --resume of a live one, ends here with status 2.
PreparedRun prepare_run_directory(const CLI::App& app, const TrainConfig& given,
                                  const ProgramFlags& flags) {
  const fs::path out = given.out;
  const fs::path last = out / "last.ckpt";
  if (flags.resume) {
    LOWBIT_CHECK(fs::exists(last), last.string(),
                 ": no checkpoint to resume (run without --resume to start)");
  } else {
    std::error_code error;
    fs::create_directories(out, error);
    LOWBIT_CHECK(!error, out.string(), ": cannot create the run directory: ", error.message());
  }
  PreparedRun run{given, RunLock(out.string(), kProgram)};
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
  } else {
    LOWBIT_CHECK(flags.overwrite || !fs::exists(last), out.string(),
                 " already holds a run (last.ckpt): continue it with --resume, or pass --overwrite "
                 "or another --out");
  }
  return run;
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
  return run_cli(app, argc, argv, "lowbit-train", [&]() -> int {
    if (flags.list_models) return list_models();
    if (flags.list_recipes) {
      std::printf("%s", format_recipe_table().c_str());
      return 0;
    }
    // An unknown --model named as the flag, before the recipe's merge reads the settings back as
    // a stored configuration would be.
    if (config.model != kImportedModel) (void)model_entry(config.model);
    const Recipe& recipe = config.recipe.empty()
                               ? default_recipe(config.model, config.dataset, config.weights)
                               : find_recipe(config.recipe);
    apply_recipe(recipe, given_train_flags(app), config);
    set_num_threads(config.threads);
    config.resolve();
    const DatasetInfo& info = dataset_info(config.dataset);  // an unknown data set fails here
    if (flags.summary_only) return print_summary(config, info);
    model_entry(config.model);  // an unknown name fails here, before any data is read
    const PreparedRun prepared = prepare_run_directory(app, config, flags);
    return run(prepared.config, flags.resume, flags.stop_after);
  });
}
