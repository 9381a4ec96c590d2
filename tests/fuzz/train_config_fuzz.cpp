// Fuzz target: a lowbit-train configuration as JSON text (apps/train/train_config.h
// train_config_from_json), what every checkpoint and run directory stores.
#include "apps/train/train_config.h"
#include "tests/fuzz/json_input.h"

namespace lowbit::fuzz {

Outcome train_config(const uint8_t* data, size_t size) {
  return read_json_text(data, size,
                        [](const nlohmann::json& j) { (void)train_config_from_json(j); });
}

}  // namespace lowbit::fuzz
