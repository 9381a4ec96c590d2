// JSON read back from a file (a checkpoint's configuration and progress), with errors that name
// the key at fault. nlohmann's type errors say what was wrong but not where ("type must be
// boolean, but is number"); its JSON_DIAGNOSTICS build would say where, but GCC 12 answers it with
// false -Warray-bounds warnings in every file that builds a json, so the key is found here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/check.h"

namespace lowbit {

// nlohmann's message without its bracketed prefix: "type must be boolean, but is number".
std::string json_error_text(const nlohmann::json::exception& e);

// j[key] into `value`; a type error throws lowbit::Error "key <where>/<key>: <what>" (where: the
// JSON pointer of j, "" at the top).
template <class T>
void read_json_key(const nlohmann::json& j, const std::string& key, T& value,
                   const std::string& where = "") {
  try {
    j.at(key).get_to(value);
  } catch (const nlohmann::json::exception& e) {
    throw Error(concat("key ", where, "/", key, ": ", json_error_text(e)));
  }
}

// j as a record T (NLOHMANN_DEFINE_TYPE_*: an object with one key per field). On an error, the
// key at fault is the first of j's keys that alone, in T's defaults, fails again; it is named as
// read_json_key does. The search runs only after a failure.
template <class T>
T read_json_record(const nlohmann::json& j, const std::string& where = "") {
  try {
    return j.get<T>();
  } catch (const nlohmann::json::exception& e) {
    const nlohmann::json defaults = T{};
    if (j.is_object()) {
      for (const auto& [key, value] : j.items()) {
        if (!defaults.contains(key)) continue;
        nlohmann::json alone = defaults;
        alone[key] = value;
        try {
          (void)alone.get<T>();
        } catch (const nlohmann::json::exception& at_key) {
          throw Error(concat("key ", where, "/", key, ": ", json_error_text(at_key)));
        }
      }
    }
    throw Error(concat(where.empty() ? "" : "key " + where + ": ", json_error_text(e)));
  }
}

}  // namespace lowbit
