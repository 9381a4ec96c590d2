// The JSON targets' input: text parsed as JSON and, when it parses, read by one of lowbit's
// configuration readers. Text that is not JSON is nlohmann's to refuse and goes no further.
#pragma once

#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

// read(j) on the parsed text; Outcome as read_or_refuse gives it (its errors name no file).
template <class Read>
Outcome read_json_text(const uint8_t* data, size_t size, Read&& read) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return Outcome::kRefused;
  return read_or_refuse("", [&] { read(j); });
}

}  // namespace lowbit::fuzz
