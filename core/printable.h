// Text from files, safe to put in a one-line error message: a name read from a checkpoint may hold
// any bytes, and a NUL would cut the message short where it is printed (what() is a C string), a
// newline would split it.
#pragma once

#include <cstddef>
#include <string>

namespace lowbit {

// `text` with every control byte (0x00-0x1F, 0x7F) written as \xHH; other bytes, UTF-8 included,
// as they are. Applying it twice changes nothing more (backslashes are kept). Inline: lowbit::Error
// (core/check.h) calls it, and the runtime library uses that header without linking core.
inline std::string escape_control_bytes(const std::string& text) {
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

// A name read from a file, for a message: escaped as above and, past max_bytes, cut with the
// number of bytes left out ("abc... (70000 bytes)"), so that a hostile name cannot flood the line.
std::string printable(const std::string& name, size_t max_bytes = 120);

}  // namespace lowbit
