// split_validation, take_first and interleave_classes: a seeded partial Fisher-Yates shuffle
// marks the held-out images, then one pass in index order copies each image to its part (so
// both keep the order).
#include "data/split.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "core/rng.h"

namespace lowbit {
namespace {

void check_consistent(const Dataset& data, const char* caller) {
  LOWBIT_CHECK(data.channels >= 0 && data.height >= 0 && data.width >= 0, caller, ": dataset '",
               data.name, "' has image size ", data.channels, "x", data.height, "x", data.width,
               ", expected non-negative");
  const uint64_t expected =
      static_cast<uint64_t>(data.size()) * static_cast<uint64_t>(data.image_bytes());
  LOWBIT_CHECK(data.pixels.size() == expected, caller, ": dataset '", data.name, "' has ",
               data.pixels.size(), " pixel bytes, expected ", data.size(), " images x ",
               data.image_bytes(), " = ", expected);
}

// A Dataset with the metadata of `data` and no images.
Dataset empty_like(const Dataset& data) {
  Dataset out;
  out.name = data.name;
  out.channels = data.channels;
  out.height = data.height;
  out.width = data.width;
  out.class_names = data.class_names;
  return out;
}

void append_image(const Dataset& data, int64_t index, Dataset& out) {
  const int64_t bytes = data.image_bytes();
  const auto first = data.pixels.begin() + index * bytes;
  out.pixels.insert(out.pixels.end(), first, first + bytes);
  out.labels.push_back(data.labels[static_cast<size_t>(index)]);
}

}  // namespace

TrainValSplit split_validation(const Dataset& data, int64_t val_count, uint64_t seed) {
  check_consistent(data, "split_validation");
  const int64_t n = data.size();
  LOWBIT_CHECK(val_count >= 0 && val_count < n, "split_validation: val_count ", val_count,
               " for dataset '", data.name, "' of ", n, " images, expected 0 <= val_count < ", n);

  // The first val_count entries of a uniform random permutation (a partial Fisher-Yates shuffle
  // on a generator of its own, so nothing else that draws random numbers can change the split).
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  Rng rng(seed);
  std::vector<bool> held_out(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < val_count; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    held_out[static_cast<size_t>(perm[static_cast<size_t>(i)])] = true;
  }

  TrainValSplit split{empty_like(data), empty_like(data)};
  split.train.pixels.reserve(static_cast<size_t>((n - val_count) * data.image_bytes()));
  split.train.labels.reserve(static_cast<size_t>(n - val_count));
  split.val.pixels.reserve(static_cast<size_t>(val_count * data.image_bytes()));
  split.val.labels.reserve(static_cast<size_t>(val_count));
  for (int64_t i = 0; i < n; ++i)
    append_image(data, i, held_out[static_cast<size_t>(i)] ? split.val : split.train);
  return split;
}

Dataset take_first(const Dataset& data, int64_t n) {
  check_consistent(data, "take_first");
  if (n <= 0 || n >= data.size()) return data;
  Dataset out = empty_like(data);
  out.pixels.assign(data.pixels.begin(), data.pixels.begin() + n * data.image_bytes());
  out.labels.assign(data.labels.begin(), data.labels.begin() + n);
  return out;
}

Dataset interleave_classes(const Dataset& data) {
  check_consistent(data, "interleave_classes");
  std::vector<std::vector<int64_t>> by_class;
  for (int64_t i = 0; i < data.size(); ++i) {
    const auto label = static_cast<size_t>(data.labels[static_cast<size_t>(i)]);
    LOWBIT_CHECK(data.labels[static_cast<size_t>(i)] >= 0, "interleave_classes: label ",
                 data.labels[static_cast<size_t>(i)], " at index ", i, " is negative");
    if (label >= by_class.size()) by_class.resize(label + 1);
    by_class[label].push_back(i);
  }
  Dataset out = empty_like(data);
  out.pixels.reserve(data.pixels.size());
  out.labels.reserve(data.labels.size());
  for (size_t rank = 0; out.size() < data.size(); ++rank) {
    for (const std::vector<int64_t>& members : by_class) {
      if (rank < members.size()) append_image(data, members[rank], out);
    }
  }
  return out;
}

}  // namespace lowbit
