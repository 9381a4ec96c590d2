// fixed: printf's "%.*f" as a std::string.
#include "apps/common/text_format.h"

#include <cstdio>

namespace lowbit {

std::string fixed(double value, int decimals) {
  char buf[48];  // the percentages, sizes and ratios of the tables; a longer number is cut
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace lowbit
