// Fuzz target: a lowbit-train configuration as JSON text (apps/train/train_config.h
// train_config_from_json), what every checkpoint and run directory stores. Text that is not JSON is
// nlohmann's to refuse and goes no further.
#include <nlohmann/json.hpp>

#include "apps/train/train_config.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome train_config(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return Outcome::kRefused;
  return read_or_refuse("", [&] { (void)train_config_from_json(j); });
}

}  // namespace lowbit::fuzz
