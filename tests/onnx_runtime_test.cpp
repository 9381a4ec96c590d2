// ONNX Runtime, a runtime nobody here wrote, as a second reference: the networks PyTorch
// builds and exports (tests/onnx/torch_models.py) give, in ONNX Runtime, PyTorch's logits and
// lowbit's import's logits within 1e-4 of the logit scale. Skips, and says why, without
// python3-torch or without ONNX Runtime (scripts/install-onnxruntime.sh).
#include "tests/onnx_runtime.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "models/onnx/onnx_import.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

using namespace lowbit;
using lowbit::testing::read_floats;
using lowbit::testing::TorchModel;

namespace {

const lowbit::testing::TempRoot temp_root("lowbit_onnx_runtime_test");

// The largest |got - want| and the logit scale max |want|.
struct Gap {
  float worst = 0.0f, scale = 0.0f;
};

Gap gap(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  Gap g;
  for (size_t i = 0; i < want.size(); ++i) {
    g.scale = std::max(g.scale, std::abs(want[i]));
    g.worst = std::max(g.worst, std::abs(got[i] - want[i]));
  }
  return g;
}

// Why the test cannot run, or empty.
std::string reason_to_skip() {
  if (lowbit::testing::run_command("/usr/bin/python3 -c 'import torch' 2>&1").status != 0)
    return "/usr/bin/python3 cannot import torch (Debian: apt-get install python3-torch)";
  return lowbit::testing::onnx_runtime_missing();
}

std::vector<float> lowbit_logits(const std::string& path, const Tensor& x) {
  const OnnxImport imported = import_onnx(path);
  imported.model->eval();
  NoGradGuard no_grad;
  return (*imported.model)(x).to_vector();
}

}  // namespace

TEST_CASE("ONNX Runtime gives PyTorch's and lowbit's logits on networks PyTorch exports",
          "[onnx][ort]") {
  // Checked and exported once: Catch runs the test case again for each section.
  static const std::string skip = reason_to_skip();
  if (!skip.empty()) {
    WARN("skipped: " << skip);
    return;
  }
  static const std::vector<TorchModel> models =
      lowbit::testing::export_torch_models(temp_root.fresh("torch").string());
  CHECK(models.size() == 7);
  for (const TorchModel& m : models) {
    DYNAMIC_SECTION(m.name) {
      const std::string stem = temp_root.dir("torch").string() + "/" + m.name;
      const Tensor x = Tensor::from_vector({m.n, m.c, m.h, m.w}, read_floats(stem + ".input.f32"));
      const Tensor ort = lowbit::testing::run_onnx_runtime(stem + ".onnx", x);
      CHECK(ort.shape().str() == Shape{m.n, m.classes}.str());
      const std::vector<float> want = ort.to_vector();
      const Gap from_torch = gap(read_floats(stem + ".logits.f32"), want);
      const Gap from_lowbit = gap(lowbit_logits(stem + ".onnx", x), want);
      INFO(m.name << ": logit scale " << from_torch.scale);
      INFO(m.name << ": worst |ONNX Runtime - PyTorch| " << from_torch.worst);
      INFO(m.name << ": worst |ONNX Runtime - lowbit| " << from_lowbit.worst);
      CHECK(from_torch.worst <= 1e-4f * from_torch.scale);
      CHECK(from_lowbit.worst <= 1e-4f * from_lowbit.scale);
    }
  }
}
