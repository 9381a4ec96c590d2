// Text from files, safe to put in a one-line error message: a name read from a checkpoint may hold
// any bytes, and a NUL would cut the message short where it is printed (what() is a C string), a
// newline would split it.
#pragma once

#include <cstddef>
#include <string>

namespace lowbit {

// `text` with every control byte (0x00-0x1F, 0x7F) written as \xHH; other bytes, UTF-8 included,
// as they are. Applying it twice changes nothing more (backslashes are kept).
std::string escape_control_bytes(const std::string& text);

// A name read from a file, for a message: escaped as above and, past max_bytes, cut with the
// number of bytes left out ("abc... (70000 bytes)"), so that a hostile name cannot flood the line.
std::string printable(const std::string& name, size_t max_bytes = 120);

}  // namespace lowbit
