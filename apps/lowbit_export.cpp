// lowbit-export: a checkpoint as an ONNX file (opset 13, standard operators), with the model, data
// set, class names and input normalization in its metadata. A float checkpoint of lowbit-train or
// lowbit-import keeps its BN as BatchNormalization; with --ptq it is first quantized by one cell of
// lowbit-ptq's data-free sweep, its kernels written as int8/uint8 codes. A lowbit-quantize
// checkpoint (BN folded) is written in the QDQ form (models/onnx/onnx_export.h), its n-bit codes in
// int8/uint8. The file is read back before the program ends and must give the model's logits: what
// is written is what lowbit computes.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/common/text_format.h"
#include "apps/fat/quantize_model.h"
#include "apps/ptq/ptq_config.h"
#include "apps/train/evaluate.h"
#include "apps/train/imported_model.h"
#include "apps/train/run_setup.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "data/datasets.h"
#include "models/onnx/onnx_export.h"
#include "models/onnx/onnx_import.h"
#include "models/transforms/ptq_model.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

#ifndef LOWBIT_VERSION
#define LOWBIT_VERSION "unknown"
#endif
constexpr const char* kLowbitVersion = LOWBIT_VERSION;

struct ExportConfig {
  std::string checkpoint;
  std::string out;
  bool overwrite = false;
  int threads = 0;
  std::string ptq;  // a PTQ cell ("sym-4"); empty: none
  std::string granularity = "tensor", bn = "affine";
  bool skip_bias = false;
};

void add_export_flags(CLI::App& app, ExportConfig& c) {
  add_checkpoint_flag(app, c.checkpoint,
                      "a float checkpoint written by lowbit-train or lowbit-import");
  app.add_option("--out", c.out, "the ONNX file to write (e.g. runs/export/model.onnx)")
      ->required();
  app.add_flag("--overwrite", c.overwrite, "replace the file --out when it exists");
  app.add_option("--ptq", c.ptq,
                 "quantize a float checkpoint first with one cell of lowbit-ptq's data-free sweep: "
                 "asym-N, sym-N, pow2-N (N = 2..16 bits) or pow2-free, with --granularity, --bn "
                 "and --skip-bias as lowbit-ptq takes them");
  add_ptq_target_flags(app, c.granularity, c.bn, c.skip_bias);
  for (const char* flag : {"--granularity", "--bn", "--skip-bias"})
    app.get_option(flag)->needs("--ptq");
  add_threads_flag(app, c.threads);
}

// The model of a checkpoint of lowbit-train, lowbit-import or lowbit-quantize, with what the
// metadata says of its quantization.
struct ExportedModel {
  std::shared_ptr<Module> model;
  TrainConfig run;
  std::vector<std::pair<std::string, std::string>> metadata;
  bool read_back = true;    // whether lowbit's importer reads every operator of the export
  bool same_logits = true;  // read back, the logits must match (else the predictions: QDQ)
  std::shared_ptr<PtqModelResult> ptq;  // --ptq's grids and codes
};

ExportedModel load_exported_model(const std::string& checkpoint) {
  if (is_quantized_checkpoint(checkpoint)) {
    const QuantizedModel q = load_quantized_checkpoint(checkpoint);
    const QuantizeConfig& c = q.quantize;
    return {q.model,
            q.train,
            {{"quantization", concat("FAT (lowbit-quantize): ", c.bits, "-bit ", c.mode, " ",
                                     c.thresholds, " thresholds, QDQ")},
             {"bits", concat(c.bits)},
             {"codes", concat("n-bit: every code lies in the ", c.bits,
                              "-bit range of its int8/uint8 type")}},
            true,
            false,
            nullptr};
  }
  TrainedModel trained = load_trained_model(checkpoint);
  const TrainConfig& c = trained.config;
  if (c.weights == "float" && c.act == "relu") return {trained.model, c, {}, true, true, nullptr};
  // Power-of-two weights are their grid values; the activation is written with standard operators
  // that the importer does not read, so the file is not read back (ONNX Runtime checks it in the
  // tests).
  return {trained.model,
          c,
          {{"quantization",
            concat("power-of-two (Long et al.): ", c.weights, " weights, ", c.act, " activations")},
           {"weight_grid",
            c.weights == "pow2" ? concat("0, +-2^k for k = ", c.weight_min_exp, "..0") : "float"},
           {"activation_levels", c.act == "relu" ? "float"
                                                 : concat(c.act_bits, " bits, q2 = ", c.act_q2,
                                                          ", levels 0, +-q2 .. +-2^(bits-2) q2, ",
                                                          c.act_scale, " scale")}},
          false,
          false,
          nullptr};
}

// A float checkpoint quantized by one PTQ cell (--ptq) in place, with what the metadata says of it.
ExportedModel ptq_exported_model(const ExportConfig& config) {
  LOWBIT_CHECK(!is_quantized_checkpoint(config.checkpoint), "--ptq: ", config.checkpoint,
               " is a lowbit-quantize checkpoint; expected a float one of lowbit-train or "
               "lowbit-import");
  ExportedModel m = load_exported_model(config.checkpoint);
  LOWBIT_CHECK(m.metadata.empty(), "--ptq: ", config.checkpoint, " holds ", m.run.weights,
               " weights and ", m.run.act, " activations; expected a float model");
  PtqSpec spec;
  try {
    spec = parse_ptq_spec_label(config.ptq, parse_ptq_granularity(config.granularity));
  } catch (const Error& e) {
    throw Error(concat("--ptq ", config.ptq, ": ", e.what()));
  }
  PtqTargets targets;
  targets.biases = !config.skip_bias;
  targets.bn = parse_ptq_bn(config.bn);
  m.ptq = std::make_shared<PtqModelResult>(ptq_quantize_model(*m.model, spec, targets));
  const bool codes =
      (spec.scheme == PtqScheme::kSymmetric || spec.scheme == PtqScheme::kAsymmetric) &&
      spec.bits <= 8;
  m.metadata = {
      {"quantization", concat("PTQ (lowbit-ptq, Nayak et al.): ", ptq_spec_label(spec), " per ",
                              config.granularity, ", weights only; batch norm: ", config.bn,
                              "; biases ", config.skip_bias ? "float" : "quantized")},
      {"bits",
       spec.scheme == PtqScheme::kPow2Free ? "the exponents the values have" : concat(spec.bits)},
      {"codes", codes ? concat("kernels as ", spec.bits, "-bit codes in ",
                               spec.scheme == PtqScheme::kSymmetric ? "int8" : "uint8",
                               " with DequantizeLinear; other quantized tensors as their values")
                      : "every quantized tensor as its values in float32"}};
  return m;
}

// The file imported again and run beside the model on random images: throws unless it gives the
// model's logits (float) or predictions (QDQ); returns the largest difference over the logit scale.
double read_back(const ExportedModel& m, const DatasetInfo& info, const std::string& path) {
  const OnnxImport back = import_onnx(path);
  Rng rng(1);
  Tensor images = Tensor::empty({8, info.channels, info.side, info.side});
  for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = rng.uniform(-2.0f, 2.0f);
  Tensor want, got;
  {
    NoGradGuard no_grad;
    m.model->eval();
    back.model->eval();
    want = (*m.model)(images);
    got = (*back.model)(images);
  }
  Agreement agreement;
  accumulate_agreement(want, got, agreement);
  const double difference = agreement.relative_difference();
  if (m.same_logits) {
    LOWBIT_CHECK(difference <= 1e-5, path, ": read back, the file's logits differ from the ",
                 "model's by ", difference, " of their scale; expected at most 1e-5");
  } else {
    // QDQ rounds x / scale where lowbit's quantizers round x * (1 / scale): a value within float
    // rounding of a code boundary may take the neighbouring code, one grid step.
    LOWBIT_CHECK(agreement.agreeing == agreement.count, path, ": read back, the file predicts ",
                 "as the model on ", agreement.agreeing, " of ", agreement.count,
                 " images; expected all");
  }
  return difference;
}

int run(const ExportConfig& config) {
  LOWBIT_CHECK(config.overwrite || !fs::exists(config.out), "--out ", config.out,
               " already exists: pass --overwrite or another --out");
  const ExportedModel m =
      config.ptq.empty() ? load_exported_model(config.checkpoint) : ptq_exported_model(config);
  const TrainConfig& run = m.run;
  const DatasetInfo info = run_dataset_info(run);

  OnnxExportOptions options;
  options.channels = info.channels;
  options.side = info.side;
  options.graph_name = run.model;
  options.metadata = {
      {"model", run.model},
      {"dataset", run.dataset},
      {"classes", joined(dataset_class_names(run.dataset), ",")},
      {"input_mean", joined(info.mean, ",")},
      {"input_std", joined(info.stddev, ",")},
      {"input_scale", "pixels / 255, then (x - input_mean) / input_std per channel"},
      {"lowbit_checkpoint", fs::path(config.checkpoint).filename().string()},
      {"lowbit_version", kLowbitVersion}};
  options.metadata.insert(options.metadata.end(), m.metadata.begin(), m.metadata.end());
  options.ptq = m.ptq.get();
  create_out_parent(config.out);
  export_onnx(*m.model, options, config.out);

  if (!m.metadata.empty()) std::printf("%s\n", m.metadata.front().second.c_str());
  if (!m.read_back) {
    std::printf(
        "%s: %s on %s, opset 13, %lld bytes (not read back: lowbit does not import the "
        "power-of-two activation's operators)\n",
        config.out.c_str(), run.model.c_str(), run.dataset.c_str(),
        static_cast<long long>(fs::file_size(config.out)));
    return 0;
  }
  const double difference = read_back(m, info, config.out);
  std::printf(
      "%s: %s on %s, opset 13, %lld bytes; read back, its logits match the model's "
      "(largest difference %.2g of their scale)\n",
      config.out.c_str(), run.model.c_str(), run.dataset.c_str(),
      static_cast<long long>(fs::file_size(config.out)), difference);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(
      argc, argv, "lowbit-export",
      "lowbit-export: a checkpoint of lowbit-train, lowbit-import or lowbit-quantize, "
      "or a float one quantized by a lowbit-ptq cell, as an ONNX file (opset 13)",
      add_export_flags, run);
}
