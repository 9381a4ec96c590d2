// Fold, rescale, calibrate; the trained scales; the quantized checkpoint.
#include "apps/fat/quantize_model.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "apps/common/json_error.h"
#include "apps/train/imported_model.h"
#include "apps/train/run_setup.h"
#include "core/check.h"
#include "core/checkpoint.h"
#include "data/datasets.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/state_dict.h"
#include "models/legacy_names.h"
#include "models/module_paths.h"

namespace lowbit {
namespace {

constexpr const char* kFormat = "lowbit-quantize";

// Attaches the quantizers and records the transformations' reports.
QuantizedModel transform(std::shared_ptr<Module> model, const TrainConfig& train,
                         const QuantizeConfig& quantize, const std::vector<Tensor>& calibration,
                         const UniformQuantizationOptions& options, bool rescale) {
  LOWBIT_CHECK(!calibration.empty(),
               "quantize_model: no calibration batches; expected at least one");
  QuantizedModel q{train, quantize, std::move(model), {}, {}, {}};
  q.fold = fold_batch_norms(*q.model, calibration.front());
  if (rescale) q.rescaled = rescale_depthwise_separable(*q.model, calibration);
  q.layers = attach_calibrated_quantizers(*q.model, calibration, options);
  return q;
}

}  // namespace

QuantizedModel quantize_model(std::shared_ptr<Module> model, const TrainConfig& train,
                              const QuantizeConfig& quantize,
                              const std::vector<Tensor>& calibration) {
  return transform(std::move(model), train, quantize, calibration, quantize.quantization(),
                   quantize.rescale_dws);
}

std::vector<Parameter> freeze_all_but_scales(Module& model) {
  std::vector<Parameter> scales;
  for (const Parameter& p : model.parameters()) {
    if (p.role == ParamRole::kQuantScale) {
      scales.push_back(p);
    } else {
      p.tensor.set_requires_grad(false);
    }
  }
  LOWBIT_CHECK(!scales.empty(),
               "the model has no quantizer scales to train; expected a model with quantizers");
  return scales;
}

void project_scales(Module& model) {
  for_each_module(model, [](Module& m) {
    if (auto* q = dynamic_cast<UniformQuantizer*>(&m)) q->project_alphas();
    if (auto* p = dynamic_cast<PointwiseScaledQuantizer*>(&m)) p->project_scales();
  });
}

void snap_scales(Module& model, int fraction_bits) {
  LOWBIT_CHECK(fraction_bits >= 0 && fraction_bits <= 23, "snap_scales: ", fraction_bits,
               " fraction bits; expected 0..23 (a float's mantissa)");
  const double unit = std::ldexp(1.0, -fraction_bits);
  for (const Parameter& p : model.parameters()) {
    if (p.role != ParamRole::kQuantScale) continue;
    float* v = p.tensor.data();
    for (int64_t i = 0; i < p.tensor.numel(); ++i)
      v[i] = static_cast<float>(std::round(v[i] / unit) * unit);
  }
  project_scales(model);
}

void save_quantized_checkpoint(const std::string& path, const QuantizedModel& q) {
  nlohmann::json input_signed = nlohmann::json::object();
  for (const CalibratedLayer& layer : q.layers)
    input_signed[layer.name] = layer.input->spec().is_signed;
  const nlohmann::json config = {{"format", kFormat},
                                 {"train_config", to_json(q.train)},
                                 {"quantize_config", to_json(q.quantize)},
                                 {"input_signed", input_signed}};
  Checkpoint c;
  c.config = config.dump();
  for (NamedTensor& t : state_dict(*q.model)) c.tensors.push_back({"model." + t.name, t.tensor});
  add_onnx_graph_blob(c, q.train.onnx_graph);
  save_checkpoint(path, c);
}

bool is_quantized_checkpoint(const std::string& path) {
  const nlohmann::json config = nlohmann::json::parse(load_checkpoint(path).config, nullptr, false);
  return config.is_object() && config.value("format", std::string()) == kFormat;
}

QuantizedModel load_quantized_checkpoint(const std::string& path) {
  Checkpoint c = load_checkpoint(path);
  std::shared_ptr<Module> model;
  EntryNaming naming = EntryNaming::kCurrent;
  try {
    const nlohmann::json config = nlohmann::json::parse(c.config);
    LOWBIT_CHECK(config.value("format", std::string()) == kFormat,
                 "not a lowbit-quantize checkpoint (format '",
                 config.value("format", std::string()), "')");
    TrainConfig train = train_config_from_json(config.at("train_config"), "/train_config");
    train.onnx_graph = onnx_graph_blob(c);
    const QuantizeConfig quantize =
        quantize_config_from_json(config.at("quantize_config"), "/quantize_config");
    const DatasetInfo& info = dataset_info(train.dataset);
    model = build_model(train, info);
    // A file from before module paths keys the layers by their old paths ("0", "stem.0").
    const std::map<std::string, std::string> old_paths = legacy_module_paths(*model);
    std::map<std::string, std::string> new_path;
    for (const auto& [now, before] : old_paths) new_path[before] = now;
    UniformQuantizationOptions options = quantize.quantization();
    for (const auto& [name, is_signed] : config.at("input_signed").items()) {
      const bool old = old_paths.count(name) == 0 && new_path.count(name) > 0;
      options.input_signed[old ? new_path.at(name) : name] = is_signed.get<bool>();
    }
    // The structure comes from the transformations on a placeholder input; the values from the file
    // (rescaling changes values only, so it is not repeated).
    const std::vector<Tensor> placeholder{Tensor::zeros({1, info.channels, info.side, info.side})};
    QuantizedModel q = transform(model, train, quantize, placeholder, options, false);
    naming = rename_legacy_entries(c, *q.model);
    load_state_dict(*q.model, c.tensors, "model.");
    q.model->eval();
    return q;
  } catch (const nlohmann::json::exception& e) {
    throw Error(concat(
        path, ": not a lowbit-quantize checkpoint (its configuration: ", json_error_text(e), ")"));
  } catch (const Error& e) {
    const bool neither = naming == EntryNaming::kNeither && model;
    throw Error(concat(path, ": ", e.what(), neither ? legacy_naming_hint(*model) : ""));
  }
}

}  // namespace lowbit
