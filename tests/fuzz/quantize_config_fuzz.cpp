// Fuzz target: a lowbit-quantize configuration as JSON text (apps/fat/quantize_config.h
// quantize_config_from_json), what a quantized checkpoint stores beside its training configuration.
#include "apps/fat/quantize_config.h"
#include "tests/fuzz/json_input.h"

namespace lowbit::fuzz {

Outcome quantize_config(const uint8_t* data, size_t size) {
  return read_json_text(data, size,
                        [](const nlohmann::json& j) { (void)quantize_config_from_json(j); });
}

}  // namespace lowbit::fuzz
