// ONNX Runtime as a second reference for the ONNX tests, beside PyTorch: runs an ONNX file in
// npm's onnxruntime-node (scripts/install-onnxruntime.sh installs it) through node and
// tests/onnx/ort_run.js. The package is looked for in $LOWBIT_ONNXRUNTIME_DIR, else in the
// source tree's .deps/onnxruntime. Also the networks PyTorch exports for both references.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lowbit::testing {

// Empty when node and the package load, else why not, for a test to print when it skips.
std::string onnx_runtime_missing();

// The model's first output for `input` (N, C, H, W) fed to its first input, as N rows. Throws
// lowbit::Error with node's message when ONNX Runtime fails.
Tensor run_onnx_runtime(const std::string& model_path, const Tensor& input);

// The little-endian float32 values of a file, as tests/onnx/torch_models.py and ort_run.js
// write them.
std::vector<float> read_floats(const std::string& path);

// A network of tests/onnx/torch_models.py's manifest: the stem of its files in the output
// directory (.onnx, .input.f32, .logits.f32), its input (N, C, H, W) and its classes.
struct TorchModel {
  std::string name;
  int64_t n = 0, c = 0, h = 0, w = 0, classes = 0;
};

// Runs tests/onnx/torch_models.py into `dir` with /usr/bin/python3 (which must import torch:
// the caller checks and skips); its manifest.
std::vector<TorchModel> export_torch_models(const std::string& dir);

}  // namespace lowbit::testing
