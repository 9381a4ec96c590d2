// Numbers as the programs' tables and captions print them.
#pragma once

#include <string>
#include <vector>

#include "core/check.h"

namespace lowbit {

// `value` with exactly `decimals` digits after the point ("%.*f"): fixed(97.456, 2) is "97.46".
std::string fixed(double value, int decimals);

// The values as concat prints them, between separators: joined({0.5f, 0.25f}, ", ") is
// "0.5, 0.25".
template <class T>
std::string joined(const std::vector<T>& values, const std::string& separator) {
  std::string text;
  for (const T& v : values) text += (text.empty() ? "" : separator) + concat(v);
  return text;
}

}  // namespace lowbit
