// Models imported from ONNX (lowbit-import) as runs of lowbit. The run's configuration names the
// model "onnx", and its checkpoint keeps the ONNX file itself as the blob "graph.onnx": the model
// is rebuilt from those bytes by models/onnx's importer and then given the checkpoint's values, as
// a zoo model is rebuilt from its name. So an imported checkpoint stands on its own, and every
// program that takes a lowbit-train checkpoint takes it, and carries the graph into what it writes
// (lowbit-quantize's checkpoint).
#pragma once

#include <memory>
#include <string>

#include "apps/train/train_config.h"
#include "core/checkpoint.h"
#include "data/datasets.h"
#include "layers/module.h"
#include "models/onnx/onnx_import.h"

namespace lowbit {

constexpr const char* kImportedModel = "onnx";
constexpr const char* kOnnxGraphBlob = "graph.onnx";

// Whether the run's model was imported (lowbit-import) rather than trained by lowbit-train.
inline bool is_imported(const TrainConfig& config) { return config.model == kImportedModel; }

// Adds the ONNX file to the checkpoint as the blob "graph.onnx"; nothing when `graph` is null.
void add_onnx_graph_blob(Checkpoint& checkpoint, const std::shared_ptr<const std::string>& graph);
// The blob "graph.onnx" of the checkpoint, or null when it has none.
std::shared_ptr<const std::string> onnx_graph_blob(const Checkpoint& checkpoint);

// The ONNX file's bytes imported (`source` names them in errors) and checked against the data set:
// it takes the data set's images and gives one logit per class. Throws lowbit::Error saying what
// differs.
OnnxImport import_for_dataset(const std::string& bytes, const std::string& source,
                              const DatasetInfo& info);
// The model of a run whose model is "onnx": the graph of config.onnx_graph, checked against the
// data set (it takes its images and gives one logit per class). Throws lowbit::Error saying what
// differs, or that the run has no graph (an imported model is made by lowbit-import, not from a
// name).
std::shared_ptr<Module> build_imported_model(const TrainConfig& config, const DatasetInfo& info);

}  // namespace lowbit
