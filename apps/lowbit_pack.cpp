// lowbit-pack: a model quantized by lowbit-quantize, or a power-of-two network trained by
// lowbit-train (--weights pow2 --act pow2), as a packed model file (.lbm) for the integer runtime
// (core/runtime/lowbit_runtime.h): weights as bit-packed n-bit codes, fixed-point requantization
// multipliers, the input normalization and class names. The file is loaded back by
// the runtime before the program ends and must give the integer-only model's logits exactly.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "apps/pack/packed_model.h"
#include "core/atomic_file.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"
#include "models/transforms/integer_model.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

struct PackConfig {
  std::string checkpoint, out;
  bool overwrite = false;
  int threads = 0;
};

void add_pack_flags(CLI::App& app, PackConfig& c) {
  add_checkpoint_flag(
      app, c.checkpoint,
      "a checkpoint written by lowbit-quantize (quantized.ckpt), or by lowbit-train "
      "for a power-of-two network (--weights pow2 --act pow2)");
  app.add_option("--out", c.out, "the packed model to write (e.g. runs/pack/model.lbm)")
      ->required();
  app.add_flag("--overwrite", c.overwrite, "replace the file --out when it exists");
  add_threads_flag(app, c.threads);
}

// The file loaded by the runtime and run beside the integer model on random images: throws unless
// every logit is the same.
void check_packed(IntegerModel& integer, const std::string& path) {
  runtime::Engine engine(runtime::read_program_file(path));
  const auto& dims = engine.info().input_dims;
  std::vector<int64_t> shape{8};
  shape.insert(shape.end(), dims.begin(), dims.end());
  Tensor images = Tensor::empty(Shape(shape));
  Rng rng(1);
  for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = rng.uniform(-2.0f, 2.0f);
  Tensor want;
  {
    NoGradGuard no_grad;
    want = integer(images);
  }
  std::vector<float> got(static_cast<size_t>(want.numel()));
  engine.run(images.data(), 8, got.data());
  for (int64_t i = 0; i < want.numel(); ++i)
    LOWBIT_CHECK(got[static_cast<size_t>(i)] == want.data()[i], path,
                 ": loaded back, the runtime's logit ", i, " is ", got[static_cast<size_t>(i)],
                 " where the integer model gives ", want.data()[i], "; expected the same");
}

int run(const PackConfig& config) {
  LOWBIT_CHECK(config.overwrite || !fs::exists(config.out), "--out ", config.out,
               " already exists: pass --overwrite or another --out");
  const PackedModel packed = pack_checkpoint(config.checkpoint);
  const std::string bytes = runtime::encode_program(packed.program);
  create_out_parent(config.out);
  write_file_atomic(config.out, bytes);
  check_packed(*packed.integer, config.out);
  const auto size = static_cast<double>(bytes.size());
  std::printf("%s: %s\n", config.out.c_str(), packed.summary.c_str());
  std::printf(
      "%lld bytes: %.1fx smaller than float32 (%lld bytes), %.1fx than float32 xz-compressed "
      "(%lld bytes)\n",
      static_cast<long long>(bytes.size()), packed.float_bytes / size,
      static_cast<long long>(packed.float_bytes), packed.float_xz_bytes / size,
      static_cast<long long>(packed.float_xz_bytes));
  std::printf("loaded back by the runtime: the integer-only model's logits, exactly\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(argc, argv, "lowbit-pack",
                     "lowbit-pack: a lowbit-quantize checkpoint, or a lowbit-train checkpoint of a "
                     "power-of-two network, as a packed model file (.lbm) for the integer runtime "
                     "and lowbit-infer",
                     add_pack_flags, run);
}
