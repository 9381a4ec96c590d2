// JSON read back from a file (a checkpoint's configuration and progress), with errors that name
// the key at fault. nlohmann's type errors say what was wrong but not where ("type must be
// boolean, but is number"); its JSON_DIAGNOSTICS build would say where, but GCC 12 answers it with
// false -Warray-bounds warnings in every file that builds a json, so the key is found here. Numbers
// are checked against the integers they set before any is cast.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/check.h"

namespace lowbit {

// nlohmann's message without its bracketed prefix: "type must be boolean, but is number".
std::string json_error_text(const nlohmann::json::exception& e);

// j with every number made 0.5. Read into a record and written back, its integers mark the numbers
// the record reads as integers, however deeply they are nested (check_integers).
nlohmann::json with_half_numbers(nlohmann::json j);

// At every integer of `shape` (T read from with_half_numbers(j), written back), j must hold an
// integer, and the same one as `read_back` (T read from j, written back) when that is given:
// nlohmann casts a JSON float to an integer (1e92 as an int is undefined behaviour, a garbage value
// in practice) and narrows a 64-bit integer (4294967304 as an int is 8). Throws lowbit::Error "key
// <where><pointer>: ..." naming the first number at fault.
void check_integers(const nlohmann::json& shape, const nlohmann::json& j,
                    const nlohmann::json* read_back, const std::string& where);

// j read into a T, its integers checked before and after (check_integers): the numbers T reads as
// integers are found by reading a copy whose numbers are all 0.5, so that none is cast before it is
// known to be an integer. nlohmann's type errors pass through.
template <class T>
T read_json_value(const nlohmann::json& j, const std::string& where) {
  const nlohmann::json shape = with_half_numbers(j).get<T>();
  check_integers(shape, j, nullptr, where);
  T value = j.get<T>();
  const nlohmann::json read_back = value;
  check_integers(shape, j, &read_back, where);
  return value;
}

// j[key] into `value`; a type error throws lowbit::Error "key <where>/<key>: <what>" (where: the
// JSON pointer of j, "" at the top), and so does a number that is not an integer its field can hold
// (check_integers).
template <class T>
void read_json_key(const nlohmann::json& j, const std::string& key, T& value,
                   const std::string& where = "") {
  try {
    value = read_json_value<T>(j.at(key), where + "/" + key);
  } catch (const nlohmann::json::exception& e) {
    throw Error(concat("key ", where, "/", key, ": ", json_error_text(e)));
  }
}

// j as a record T (NLOHMANN_DEFINE_TYPE_*: an object with one key per field), its integers checked
// as read_json_key's. On a type error, the key at fault is the first of j's keys that alone, in T's
// defaults, fails again; it is named as read_json_key does. The search runs only after a failure,
// on j with its numbers made 0.5, so that it casts none.
template <class T>
T read_json_record(const nlohmann::json& j, const std::string& where = "") {
  try {
    return read_json_value<T>(j, where);
  } catch (const nlohmann::json::exception& e) {
    const nlohmann::json defaults = T{};
    const nlohmann::json probe = with_half_numbers(j);
    if (probe.is_object()) {
      for (const auto& [key, value] : probe.items()) {
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
