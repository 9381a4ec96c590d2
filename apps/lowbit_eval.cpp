// lowbit-eval: evaluates a lowbit-train checkpoint on its data set's test split: accuracy,
// per-class accuracy and the confusion matrix (printed, and written as CSV).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "apps/cli_main.h"
#include "apps/evaluate.h"
#include "apps/run_log.h"
#include "apps/run_setup.h"
#include "apps/train_config.h"
#include "apps/training_checkpoint.h"
#include "core/check.h"
#include "core/parallel.h"
#include "data/datasets.h"

using namespace lowbit;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"lowbit-eval: test accuracy, per-class accuracy and confusion matrix of a lowbit-train checkpoint"};
  std::string checkpoint, data_dir, csv_path, json_path;
  int threads = 0, batch_size = 256;
  app.add_option("--checkpoint", checkpoint, "a checkpoint written by lowbit-train (last.ckpt or best.ckpt)")->required();
  app.add_option("--data-dir", data_dir, "data directory (default: the run's, then $LOWBIT_DATA/<dataset>, ./data/<dataset>)");
  app.add_option("--csv", csv_path, "where to write the confusion matrix (default: <checkpoint>.confusion.csv)");
  app.add_option("--json", json_path, "also write the results as JSON to this file");
  app.add_option("--batch-size", batch_size, "images per batch")->check(CLI::Range(1, 65536));
  app.add_option("--threads", threads, "threads (0: one per core)")->check(CLI::Range(0, 1024));
  return run_cli(app, argc, argv, "lowbit-eval", [&]() -> int {
    set_num_threads(threads);
    TrainedModel trained = load_trained_model(checkpoint);
    TrainConfig& config = trained.config;
    if (!data_dir.empty()) config.data_dir = data_dir;
    const DatasetInfo& info = dataset_info(config.dataset);
    Module& model = *trained.model;
    const std::string dir = resolve_data_dir(config.dataset, config.data_dir);
    const Dataset test = load_dataset(config.dataset, dir).test;
    const Evaluation e = evaluate(model, *make_eval_loader(test, batch_size, info), info.num_classes);

    std::printf("%s: %s on %s after %d epochs\n", checkpoint.c_str(), config.model.c_str(), config.dataset.c_str(),
                trained.progress.epochs_done);
    std::printf("test accuracy %.2f%% (%lld images from %s), loss %.4f\n\n", e.accuracy,
                static_cast<long long>(e.count), dir.c_str(), e.loss);
    std::printf("confusion matrix (rows: true class, columns: predicted class)\n%s",
                confusion_table(e, test.class_names).c_str());
    if (csv_path.empty()) csv_path = checkpoint + ".confusion.csv";
    write_file_atomic(csv_path, confusion_csv(e, test.class_names));
    std::printf("\nconfusion matrix written to %s\n", csv_path.c_str());
    if (!json_path.empty()) {
      nlohmann::json per_class = nlohmann::json::object();
      for (int64_t k = 0; k < e.num_classes; ++k) per_class[test.class_names.at(static_cast<size_t>(k))] = e.class_accuracy(k);
      const nlohmann::json j = {{"checkpoint", checkpoint}, {"model", config.model},     {"dataset", config.dataset},
                                {"test_accuracy", e.accuracy}, {"test_loss", e.loss},   {"test_images", e.count},
                                {"class_accuracy", per_class}, {"confusion", e.confusion}};
      write_file_atomic(json_path, j.dump(2) + "\n");
    }
    return 0;
  });
}
