// Numbers as the programs' tables and captions print them.
#pragma once

#include <string>

namespace lowbit {

// `value` with exactly `decimals` digits after the point ("%.*f"): fixed(97.456, 2) is "97.46".
std::string fixed(double value, int decimals);

}  // namespace lowbit
