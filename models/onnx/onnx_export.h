// ONNX export: a float lowbit model (the zoo's, or an imported GraphModel) as an ONNX model of
// standard operators (opset 13) that any runtime evaluates as lowbit does in evaluation mode. The
// module tree is walked once: each layer becomes its ONNX node, with its parameters as
// initializers named by their lowbit paths ("layer1.0.conv1.weight"), and the joins of residual
// blocks and graphs become Add and Concat nodes. The operator table is in docs/onnx.md; a module
// with no ONNX form (quantizers, for now) is refused by path and type.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace lowbit {

struct PtqModelResult;

struct OnnxExportOptions {
  int64_t channels = 3, side = 32;  // the input image (C, side, side); the batch is dynamic ("N")
  std::string graph_name = "lowbit";
  // metadata_props of the model, in order (model name, data set, classes, normalization, ...).
  std::vector<std::pair<std::string, std::string>> metadata;
  // A post-training quantization cell (models/transforms/ptq_model.h) already applied to the
  // model: its uniform kernels of 8 bits or fewer are written as their int8/uint8 codes with
  // DequantizeLinear; every other tensor it quantized is its quantized values in float32.
  const PtqModelResult* ptq = nullptr;
};

// The serialized ModelProto of `model` with input "image" (N, C, side, side) and output "logits".
// The model is traced once on a zero image in evaluation mode (its mode is given back). Throws
// lowbit::Error naming the first module that has no ONNX form.
std::string export_onnx_bytes(Module& model, const OnnxExportOptions& options);

// The same, written to `path` atomically (temporary file, rename).
void export_onnx(Module& model, const OnnxExportOptions& options, const std::string& path);

}  // namespace lowbit
