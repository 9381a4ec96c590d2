// lowbit-import: a float CNN from an ONNX file (as torch.onnx.export writes it) becomes a lowbit
// checkpoint that lowbit-eval, lowbit-quantize and lowbit-ptq take like one from lowbit-train. The
// checkpoint keeps the ONNX file and the values of its layers (apps/train/imported_model.h); the
// data set names the images the network takes and the classes it tells apart, and --mean/--std
// the input normalization it was trained with when that is not lowbit's for the data set.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/common/text_format.h"
#include "apps/train/imported_model.h"
#include "apps/train/run_setup.h"
#include "apps/train/training_checkpoint.h"
#include "core/check.h"
#include "data/datasets.h"
#include "models/onnx/onnx_import.h"
#include "models/summary.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

struct ImportConfig {
  std::string onnx;  // the file to import
  std::string out;   // the checkpoint to write
  std::string dataset;
  std::vector<float> mean, std;  // empty: the data set's
  bool overwrite = false;
  bool summary = false;  // print every layer
  int threads = 0;
};

void add_import_flags(CLI::App& app, ImportConfig& c) {
  app.add_option("onnx", c.onnx, "the ONNX file of a float CNN (torch.onnx.export)")->required();
  app.add_option("--out", c.out, "the checkpoint to write (e.g. runs/imported/model.ckpt)")
      ->required();
  app.add_option("--dataset", c.dataset,
                 "the data set the network was trained on: its images go in, one logit per class "
                 "comes out (mnist, fashion-mnist, cifar10, svhn)")
      ->required();
  app.add_option("--mean", c.mean,
                 "the input normalization's mean per channel, on pixels in [0, 1] "
                 "(e.g. 0.4914,0.4822,0.4465); default: lowbit's for the data set")
      ->delimiter(',');
  app.add_option("--std", c.std,
                 "the input normalization's standard deviation per channel, on pixels in [0, 1]; "
                 "default: lowbit's for the data set")
      ->delimiter(',');
  app.add_flag("--overwrite", c.overwrite, "replace the checkpoint --out when it exists");
  app.add_flag("--summary", c.summary, "print every layer with its output shape and size");
  add_threads_flag(app, c.threads);
}

std::string values_text(const std::vector<float>& values) {
  return "(" + joined(values, ", ") + ")";
}

int run(const ImportConfig& config) {
  LOWBIT_CHECK(config.overwrite || !fs::exists(config.out), "--out ", config.out,
               " already exists: pass --overwrite or another --out");
  TrainConfig run;
  run.model = kImportedModel;
  run.dataset = config.dataset;
  run.epochs = 0;  // none in lowbit: the values are the file's
  // No validation hold-out: the network was trained elsewhere, most likely on every training
  // image, so lowbit-quantize measures its held-out RMSE on the test split.
  run.val_split = 0;
  run.input_mean = config.mean;
  run.input_std = config.std;
  DatasetInfo info;
  try {
    info = run_dataset_info(run);
  } catch (const Error& e) {
    throw Error(concat("--dataset/--mean/--std: ", e.what()));
  }
  for (float s : info.stddev)
    LOWBIT_CHECK(s > 0, "--std ", values_text(info.stddev),
                 ": expected positive standard deviations");
  run.onnx_graph = std::make_shared<const std::string>(read_onnx_file(config.onnx));
  const OnnxImport details = import_for_dataset(*run.onnx_graph, config.onnx, info);
  Module& model = *details.model;

  const ModelSummary summary = summarize(model, info.channels, info.side);
  std::printf("%s: %s, opset %lld; %zu layers, %lld parameters, %lld multiply-adds per image\n",
              config.onnx.c_str(),
              details.producer.empty() ? "unknown producer" : details.producer.c_str(),
              static_cast<long long>(details.opset), summary.layers.size(),
              static_cast<long long>(summary.parameters), static_cast<long long>(summary.macs));
  if (config.summary) std::printf("%s", format_summary(summary).c_str());
  std::printf("input: %s images, normalized with mean %s and std %s%s\n", info.name.c_str(),
              values_text(info.mean).c_str(), values_text(info.stddev).c_str(),
              config.mean.empty() && config.std.empty() ? " (lowbit's for the data set)" : "");

  create_out_parent(config.out);
  save_training_checkpoint(config.out, to_json(run), model, {}, RunProgress{}, run.onnx_graph);
  std::printf("wrote %s; next: lowbit-eval --checkpoint %s\n", config.out.c_str(),
              config.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(argc, argv, "lowbit-import",
                     "lowbit-import: a float CNN from an ONNX file as a lowbit checkpoint, for "
                     "lowbit-eval, lowbit-quantize and lowbit-ptq",
                     add_import_flags, run);
}
