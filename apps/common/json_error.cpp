// Rewording of nlohmann's exception messages.
#include "apps/common/json_error.h"

namespace lowbit {

std::string json_error_text(const nlohmann::json::exception& e) {
  const std::string text = e.what();
  const size_t end = text.find("] ");
  const bool prefixed = text.rfind("[json.exception.", 0) == 0 && end != std::string::npos;
  return prefixed ? text.substr(end + 2) : text;
}

}  // namespace lowbit
