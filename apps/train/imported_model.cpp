// Imported models: the ONNX file in the checkpoint, and the graph rebuilt from it.
#include "apps/train/imported_model.h"

#include "core/autograd.h"
#include "core/check.h"
#include "core/shape.h"

namespace lowbit {

void add_onnx_graph_blob(Checkpoint& checkpoint, const std::shared_ptr<const std::string>& graph) {
  if (graph) checkpoint.blobs.push_back({kOnnxGraphBlob, {graph->begin(), graph->end()}});
}

std::shared_ptr<const std::string> onnx_graph_blob(const Checkpoint& checkpoint) {
  for (const NamedBlob& b : checkpoint.blobs) {
    if (b.name == kOnnxGraphBlob)
      return std::make_shared<const std::string>(b.bytes.begin(), b.bytes.end());
  }
  return nullptr;
}

OnnxImport import_for_dataset(const std::string& bytes, const std::string& source,
                              const DatasetInfo& info) {
  OnnxImport imported = import_onnx_bytes(bytes, source);
  // The declared input (N, C, H, W), where the file gives it, must be the data set's image.
  const std::vector<int64_t>& dims = imported.input_dims;
  const std::vector<int64_t> image{info.channels, info.side, info.side};
  for (size_t k = 1; k < dims.size() && k <= image.size(); ++k) {
    LOWBIT_CHECK(dims.size() == 4 && (dims[k] == 0 || dims[k] == image[k - 1]), source,
                 ": the ONNX graph's input '", imported.input_name, "' is ", Shape(dims).str(),
                 "; expected N x ", info.channels, " x ", info.side, " x ", info.side,
                 " images of ", info.name);
  }
  // One image through the graph (evaluation mode, so no BN statistic moves) must give one logit
  // per class.
  Tensor logits;
  {
    NoGradGuard no_grad;
    ModeGuard mode(*imported.model, false);
    try {
      logits = imported.model->forward(Tensor::zeros({1, info.channels, info.side, info.side}));
    } catch (const Error& e) {
      throw Error(concat(source, ": the ONNX graph does not take ", info.name, "'s ", info.channels,
                         "x", info.side, "x", info.side, " images: ", e.what()));
    }
  }
  LOWBIT_CHECK(logits.rank() == 2 && logits.size(1) == info.num_classes, source,
               ": the ONNX graph's output '", imported.output_name, "' is ", logits.shape().str(),
               " for one image; expected 1 x ", info.num_classes, " (one logit per class of ",
               info.name, ")");
  return imported;
}

std::shared_ptr<Module> build_imported_model(const TrainConfig& config, const DatasetInfo& info) {
  LOWBIT_CHECK(config.onnx_graph != nullptr, "the model '", kImportedModel,
               "' is an imported ONNX graph and the run holds none; expected a checkpoint written "
               "by lowbit-import (or one made from it)");
  return import_for_dataset(*config.onnx_graph, "the run's ONNX graph", info).model;
}

}  // namespace lowbit
