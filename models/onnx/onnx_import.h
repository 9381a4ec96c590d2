// ONNX import: a float CNN in an ONNX file (as torch.onnx.export writes it) becomes a GraphModel of
// lowbit modules (Conv2d, BatchNorm, Linear, activations, pooling, Flatten, Reshape) joined by sums
// and concatenations, with the file's weights. The operator table is in docs/onnx.md; anything
// outside it is refused with the node's name and type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/graph_model.h"

namespace lowbit {

struct OnnxImport {
  std::shared_ptr<GraphModel> model;
  // The graph input's dimensions (N, C, H, W); a symbolic dimension (a batch named "N") is 0.
  std::vector<int64_t> input_dims;
  int64_t opset = 0;     // of the default domain
  std::string producer;  // "pytorch 1.13.1"
  std::string input_name, output_name;
};

// Reads `path`; throws lowbit::Error naming the file, and the node where there is one, for a file
// that is not an ONNX model, an operator or attribute lowbit has no equivalent of, or weights that
// do not fit their layer.
OnnxImport import_onnx(const std::string& path);
// The bytes of an ONNX file; throws lowbit::Error naming it when it is missing, unreadable or not
// a regular file.
std::string read_onnx_file(const std::string& path);
// The same from the serialized bytes of a ModelProto; `source` names them in errors.
OnnxImport import_onnx_bytes(const std::string& bytes, const std::string& source);

}  // namespace lowbit
