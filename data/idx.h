// IDX files (the MNIST and Fashion-MNIST format), plain or gzip-compressed: a big-endian
// header (magic 0x00000803 for images, 0x00000801 for labels, then the dimensions) and
// unsigned bytes.
#pragma once

#include <string>

#include "data/dataset.h"

namespace lowbit {

// Reads an image file and its label file into a one-channel Dataset. Either path may end
// in .gz or name a file whose .gz sibling exists. Throws lowbit::Error with one line
// naming the file and what was expected (magic number, truncation, trailing data, count
// mismatch, label out of range, a file that is not regular). Both headers are checked
// before either body is read, a declared size larger than the file can hold is refused
// before anything is allocated, and a gzip file is inflated no further than its header
// declares: memory stays within what the headers legitimately imply.
Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 int num_classes = 10);

}  // namespace lowbit
