// lowbit-train checkpoints of power-of-two networks (--weights pow2 --act pow2 or relu-pow2) as
// packed models: grid weights as codes w 2^-min_exp, BN folded into per-channel requantization,
// the activation as level operations (models/transforms/pow2_integer.h).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/pack/packed_model.h"
#include "apps/train/run_setup.h"
#include "core/check.h"
#include "data/datasets.h"
#include "models/transforms/weight_grid.h"

namespace lowbit {

PackedModel pack_pow2_checkpoint(const std::string& checkpoint) {
  TrainedModel t;
  try {
    t = load_trained_model(checkpoint);
  } catch (const Error& e) {
    throw Error(concat(e.what(),
                       " (lowbit-pack packs lowbit-quantize checkpoints and lowbit-train "
                       "checkpoints of power-of-two networks)"));
  }
  const TrainConfig& c = t.config;
  LOWBIT_CHECK(c.weights == "pow2", checkpoint, ": a lowbit-train checkpoint of float weights (",
               c.model, " --weights ", c.weights,
               "); lowbit-pack packs power-of-two networks (--weights pow2 --act pow2) and models "
               "quantized by lowbit-quantize");
  LOWBIT_CHECK(c.act == "pow2" || c.act == "relu-pow2", checkpoint,
               ": power-of-two weights with float activations (--act ", c.act,
               "); lowbit-pack needs quantized activations: --act pow2 or relu-pow2");
  Pow2Weights pow2;
  pow2.grid = grid_weight_parameters(*t.model, c.quantize_first, c.quantize_last);
  pow2.min_exp = c.weight_min_exp;
  // The image's largest |x|: pixels p in [0, 1] normalized to (p - mean) / stddev.
  const DatasetInfo info = run_dataset_info(c);
  pow2.input_bound = 0;
  for (size_t k = 0; k < info.mean.size(); ++k)
    pow2.input_bound = std::max<double>(
        pow2.input_bound,
        std::max(std::fabs(info.mean[k]), std::fabs(1.0f - info.mean[k])) / info.stddev[k]);
  PackedModel packed;
  packed.model = t.model;
  try {
    packed.integer = std::make_shared<IntegerModel>(*t.model, pow2);
  } catch (const Error& e) {
    throw Error(concat(checkpoint, ": ", e.what()));
  }
  finish_packed_model(c, packed);
  packed.program.info.metadata =
      nlohmann::json{{"format", "lowbit packed model"},
                     {"source", "lowbit-train"},
                     {"checkpoint", std::filesystem::path(checkpoint).filename().string()},
                     {"model", c.model},
                     {"dataset", c.dataset},
                     {"weights", "pow2"},
                     {"weight_min_exp", c.weight_min_exp},
                     {"act", c.act},
                     {"act_bits", c.act_bits},
                     {"act_q2", c.act_q2},
                     {"act_scale", c.act_scale},
                     {"float_layers", packed.integer->float_layers()},
                     {"layers", packed.integer->quantized_layers().size()}}
          .dump();
  packed.summary =
      concat(c.model, " on ", c.dataset, ", power-of-two weights (0, +-2^", c.weight_min_exp,
             "..1) and ", c.act_bits, "-bit ", c.act, " activations (lowbit-train)");
  return packed;
}

}  // namespace lowbit
