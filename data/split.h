// Validation hold-out and subsets of a Dataset: which images go where, copied out of the
// original so that each part is an ordinary Dataset with the same metadata.
#pragma once

#include <cstdint>

#include "data/dataset.h"

namespace lowbit {

struct TrainValSplit {
  Dataset train, val;
};

// Holds `val_count` images out of `data` for validation: a permutation drawn from `seed` picks them
// (the same seed always gives the same split, independent of anything else); both parts keep the
// original relative order. val_count == 0: val is empty (same metadata). val_count >= data.size():
// error naming the value and the size.
TrainValSplit split_validation(const Dataset& data, int64_t val_count, uint64_t seed);

// The first n images (n <= 0 or n >= size: all). Keeps metadata.
Dataset take_first(const Dataset& data, int64_t n);
// The same images with the classes interleaved: the first image of every class (in label
// order), then the second of every class, and so on; within a class the order is kept.
// Image folders come grouped by class, so without this the first N images (take_first,
// --train-subset) would hold one or two classes only.
Dataset interleave_classes(const Dataset& data);

}  // namespace lowbit
