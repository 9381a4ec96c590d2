// Names read from files, cut for one-line messages.
#include "core/printable.h"

namespace lowbit {

std::string printable(const std::string& name, size_t max_bytes) {
  if (name.size() <= max_bytes) return escape_control_bytes(name);
  return escape_control_bytes(name.substr(0, max_bytes)) + "... (" + std::to_string(name.size()) +
         " bytes)";
}

}  // namespace lowbit
