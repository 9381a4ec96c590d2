// Error checks: every failed check throws lowbit::Error with a one-line message that
// names the value that was wrong and what was expected.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "core/printable.h"

namespace lowbit {

// The message keeps its control bytes escaped (\x00, \x0a): it often quotes a name read from a
// file, and a NUL or a newline there would cut or split the one line the programs print.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(escape_control_bytes(message)) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& out, const T& first, const Rest&... rest) {
  out << first;
  append(out, rest...);
}
}  // namespace detail

// Builds a message from streamable pieces: concat("expected ", 3, " dims").
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  detail::append(out, parts...);
  return out.str();
}

}  // namespace lowbit

// LOWBIT_CHECK(cond, "message", parts...) throws lowbit::Error when cond is false.
#define LOWBIT_CHECK(cond, ...)                                        \
  do {                                                                 \
    if (!(cond)) throw ::lowbit::Error(::lowbit::concat(__VA_ARGS__)); \
  } while (0)
