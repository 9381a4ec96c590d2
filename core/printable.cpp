// Escaping of control bytes in message text.
#include "core/printable.h"

namespace lowbit {

std::string escape_control_bytes(const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string printable(const std::string& name, size_t max_bytes) {
  if (name.size() <= max_bytes) return escape_control_bytes(name);
  return escape_control_bytes(name.substr(0, max_bytes)) + "... (" + std::to_string(name.size()) +
         " bytes)";
}

}  // namespace lowbit
