// IDX files (the MNIST and Fashion-MNIST format), plain or gzip-compressed: a big-endian
// header (magic 0x00000803 for images, 0x00000801 for labels, then the dimensions) and
// unsigned bytes.
#pragma once

#include <string>

#include "data/dataset.h"

namespace lowbit {

// Reads an image file and its label file into a one-channel Dataset. Either path may end
// in .gz or name a file whose .gz sibling exists. Throws lowbit::Error with one line
// naming the file and what was expected (magic number, truncation, count mismatch,
// label out of range).
Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 int num_classes = 10);

// The bytes of a file, gunzipped when its name ends in .gz; the plain name falls back
// to name.gz when only that exists.
std::vector<uint8_t> read_maybe_gzipped(const std::string& path);

}  // namespace lowbit
