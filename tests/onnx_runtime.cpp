// Running ONNX files in ONNX Runtime for the tests (the batch and the logits go through
// temporary float32 files, node runs tests/onnx/ort_run.js), and PyTorch's networks to run.
#include "tests/onnx_runtime.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace lowbit::testing {
namespace fs = std::filesystem;
namespace {

const TempRoot temp_root("lowbit_onnx_runtime");

// LOWBIT_SOURCE_DIR is defined for the test binary, not for this library: the source tree is
// found from this file's own path instead (CMake compiles it by its absolute path).
fs::path source_dir() { return fs::path(__FILE__).parent_path().parent_path(); }

fs::path package_dir() {
  const char* dir = std::getenv("LOWBIT_ONNXRUNTIME_DIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : source_dir() / ".deps" / "onnxruntime";
}

// `text` as one shell word.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// node running ort_run.js, finding onnxruntime-node in the package directory.
std::string ort_run_command() {
  return "NODE_PATH=" + quoted((package_dir() / "node_modules").string()) + " node " +
         quoted((source_dir() / "tests/onnx/ort_run.js").string());
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The last line of a program's output: a Python traceback ends with the exception.
std::string last_line(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.rfind('\n') + 1);
}

void write_floats(const std::string& path, const std::vector<float>& values) {
  static_assert(sizeof(float) == 4, "float32 files");
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  LOWBIT_CHECK(out.good(), "cannot write ", path);
}

}  // namespace

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOWBIT_CHECK(in.good(), "cannot read ", path);
  std::vector<float> values;
  float x;
  while (in.read(reinterpret_cast<char*>(&x), sizeof x)) values.push_back(x);
  return values;
}

std::vector<TorchModel> export_torch_models(const std::string& dir) {
  const CommandResult made = run_command(
      "/usr/bin/python3 " + quoted((source_dir() / "tests/onnx/torch_models.py").string()) + " " +
      quoted(dir));
  LOWBIT_CHECK(made.status == 0, "tests/onnx/torch_models.py failed: ", last_line(made.output));
  std::istringstream manifest(read_text(fs::path(dir) / "manifest.txt"));
  std::vector<TorchModel> models;
  TorchModel m;
  while (manifest >> m.name >> m.n >> m.c >> m.h >> m.w >> m.classes) models.push_back(m);
  return models;
}

std::string onnx_runtime_missing() {
  if (run_command("node --version").status != 0)
    return "node is not on PATH (scripts/install-onnxruntime.sh installs it)";
  const CommandResult loaded = run_command(ort_run_command() + " --check");
  if (loaded.status != 0)
    return "onnxruntime-node does not load from " + package_dir().string() + " (" +
           first_line(loaded.output) +
           "); run scripts/install-onnxruntime.sh or set LOWBIT_ONNXRUNTIME_DIR";
  return "";
}

Tensor run_onnx_runtime(const std::string& model_path, const Tensor& input) {
  LOWBIT_CHECK(input.rank() == 4, "ONNX Runtime input: expected (N, C, H, W), got ",
               input.shape().str());
  // Emptied on every call (the tests of one process run one at a time): no stale output.
  const fs::path dir = temp_root.fresh("run");
  const std::string in = (dir / "input.f32").string(), out = (dir / "output.f32").string();
  write_floats(in, input.to_vector());
  std::string command = ort_run_command() + " " + quoted(model_path) + " " + quoted(in);
  for (int d = 0; d < 4; ++d) command += " " + std::to_string(input.size(d));
  const CommandResult ran = run_command(command + " " + quoted(out));
  LOWBIT_CHECK(ran.status == 0, "ONNX Runtime on ", model_path, ": ", first_line(ran.output));
  std::vector<float> values = read_floats(out);
  const int64_t n = input.size(0);
  LOWBIT_CHECK(!values.empty() && values.size() % n == 0, "ONNX Runtime on ", model_path, ": ",
               values.size(), " output values for a batch of ", n);
  return Tensor::from_vector({n, static_cast<int64_t>(values.size()) / n}, values);
}

}  // namespace lowbit::testing
