#include "apps/pack/packed_model.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/fat/quantize_model.h"
#include "apps/ptq/ptq_size.h"
#include "apps/train/run_setup.h"
#include "core/check.h"
#include "data/datasets.h"

namespace lowbit {

void finish_packed_model(const TrainConfig& train, PackedModel& packed) {
  packed.program = packed.integer->program();
  const DatasetInfo info = run_dataset_info(train);
  runtime::ModelInfo& m = packed.program.info;
  m.input_dims = {info.channels, info.side, info.side};
  m.num_classes = info.num_classes;
  m.class_names = dataset_class_names(train.dataset);
  if (static_cast<int64_t>(m.class_names.size()) != m.num_classes) m.class_names.clear();
  m.mean = info.mean;
  m.stddev = info.stddev;
  const std::vector<uint8_t> float_bytes = float_model_bytes(*packed.model);
  packed.float_bytes = static_cast<int64_t>(float_bytes.size());
  packed.float_xz_bytes = xz_size(float_bytes);
}

PackedModel pack_checkpoint(const std::string& checkpoint) {
  return is_quantized_checkpoint(checkpoint) ? pack_quantized_checkpoint(checkpoint)
                                             : pack_pow2_checkpoint(checkpoint);
}

PackedModel pack_quantized_checkpoint(const std::string& checkpoint) {
  LOWBIT_CHECK(is_quantized_checkpoint(checkpoint), checkpoint,
               ": not a lowbit-quantize checkpoint (quantized.ckpt); lowbit-pack packs models "
               "quantized by lowbit-quantize");
  const QuantizedModel q = load_quantized_checkpoint(checkpoint);
  PackedModel packed;
  packed.model = q.model;
  packed.integer = std::make_shared<IntegerModel>(*q.model);
  finish_packed_model(q.train, packed);
  const QuantizeConfig& c = q.quantize;
  packed.program.info.metadata =
      nlohmann::json{{"format", "lowbit packed model"},
                     {"source", "lowbit-quantize"},
                     {"checkpoint", std::filesystem::path(checkpoint).filename().string()},
                     {"model", q.train.model},
                     {"dataset", q.train.dataset},
                     {"bits", c.bits},
                     {"mode", c.mode},
                     {"thresholds", c.thresholds},
                     {"layers", packed.integer->quantized_layers().size()}}
          .dump();
  packed.summary = concat(q.train.model, " on ", q.train.dataset, ", ", c.bits, "-bit ", c.mode,
                          " ", c.thresholds, " (lowbit-quantize)");
  return packed;
}

}  // namespace lowbit
