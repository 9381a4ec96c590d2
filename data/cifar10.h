// CIFAR-10 in its official binary form: records of 1 label byte + 3072 pixel bytes (1024 R,
// 1024 G, 1024 B, each plane row-major 32x32), which is already the NCHW layout of Dataset.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace lowbit {

// train: dir/data_batch_1.bin .. dir/data_batch_5.bin (10000 records each in the official
// files); test: dir/test_batch.bin. Throws lowbit::Error with one line naming the file for
// a missing, empty or truncated batch, one that is not a regular file, and a label outside 0-9.
// A batch's size is checked before it is read.
Dataset load_cifar10_binary(const std::string& dir, bool train);

// The ten class names, labels 0-9: airplane automobile bird cat deer dog frog horse ship truck.
const std::vector<std::string>& cifar10_class_names();

}  // namespace lowbit
