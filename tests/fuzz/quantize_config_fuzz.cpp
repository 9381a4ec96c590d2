// Fuzz target: a lowbit-quantize configuration as JSON text (apps/fat/quantize_config.h
// quantize_config_from_json), what a quantized checkpoint stores beside its training configuration.
// Text that is not JSON is nlohmann's to refuse and goes no further.
#include <nlohmann/json.hpp>

#include "apps/fat/quantize_config.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome quantize_config(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return Outcome::kRefused;
  return read_or_refuse("", [&] { (void)quantize_config_from_json(j); });
}

}  // namespace lowbit::fuzz
