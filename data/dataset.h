// Dataset: a labelled image set decoded once and kept in memory as uint8, NCHW.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

struct Dataset {
  std::string name;
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // (N, C, H, W)
  std::vector<int32_t> labels;  // N class indices
  std::vector<std::string> class_names;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return channels * height * width; }
};

}  // namespace lowbit
