// Rewording of nlohmann's exception messages, and the integers of a JSON value checked against the
// fields that read them.
#include "apps/common/json_error.h"

#include <vector>

namespace lowbit {

std::string json_error_text(const nlohmann::json::exception& e) {
  const std::string text = e.what();
  const size_t end = text.find("] ");
  const bool prefixed = text.rfind("[json.exception.", 0) == 0 && end != std::string::npos;
  return prefixed ? text.substr(end + 2) : text;
}

nlohmann::json with_half_numbers(nlohmann::json j) {
  // Without recursion: JSON from a file may nest as deep as it likes.
  std::vector<nlohmann::json*> todo{&j};
  while (!todo.empty()) {
    nlohmann::json* v = todo.back();
    todo.pop_back();
    if (v->is_number()) {
      *v = 0.5;
    } else if (v->is_structured()) {
      for (nlohmann::json& child : *v) todo.push_back(&child);
    }
  }
  return j;
}

void check_integers(const nlohmann::json& shape, const nlohmann::json& j,
                    const nlohmann::json* read_back, const std::string& where) {
  // `shape` is a record written back, as deep as its type: recursion is bounded.
  if (shape.is_number_integer()) {
    if (j.is_number_float())
      throw Error(concat("key ", where, ": ", j.dump(), ", expected an integer"));
    // Compared as text: nlohmann compares a signed and an unsigned integer after casting one to
    // the other's type (-1 equals 2^64 - 1).
    if (read_back != nullptr && j.is_number_integer() && read_back->dump() != j.dump())
      throw Error(concat("key ", where, ": ", j.dump(), " is out of its integer's range"));
  } else if (shape.is_object() && j.is_object()) {
    for (const auto& [key, field] : shape.items()) {
      const bool back = read_back != nullptr && read_back->is_object() && read_back->contains(key);
      if (j.contains(key))
        check_integers(field, j.at(key), back ? &read_back->at(key) : nullptr, where + "/" + key);
    }
  } else if (shape.is_array() && j.is_array()) {
    for (size_t i = 0; i < shape.size() && i < j.size(); ++i) {
      const bool back = read_back != nullptr && read_back->is_array() && i < read_back->size();
      check_integers(shape[i], j[i], back ? &(*read_back)[i] : nullptr,
                     where + "/" + std::to_string(i));
    }
  }
}

}  // namespace lowbit
