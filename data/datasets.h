// The one table of data sets lowbit-train knows ("mnist", "fashion-mnist", "cifar10",
// "svhn"): their shapes, normalization and augmentation, where their files are looked for,
// and how both splits are loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace lowbit {

struct DatasetInfo {
  std::string name;
  int64_t channels, side, num_classes;
  std::vector<float> mean,
      stddev;            // per channel, on pixels scaled to [0, 1] (the usual published values)
  bool horizontal_flip;  // augmentation: true for cifar10 only (not digits)
  int64_t crop_padding;  // random-crop padding for augmentation: 4 for the 32x32 sets, 0 for the
                         // 28x28 ones
};

const std::vector<DatasetInfo>& dataset_table();
// The names of the data set's classes in label order ("airplane", ... for cifar10; the digits for
// mnist and svhn).
std::vector<std::string> dataset_class_names(const std::string& name);
// The entry named `name`; unknown: lowbit::Error listing the known names.
const DatasetInfo& dataset_info(const std::string& name);

// Where data is looked for, in order: flag_dir when not empty (missing: error naming it);
// else $LOWBIT_DATA/<name> when LOWBIT_DATA is set, then ./data/<name>; fashion-mnist
// finally falls back to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
// Returns the first existing directory; when none exists, throws one line listing every
// place looked and how to get the data.
std::string resolve_data_dir(const std::string& name, const std::string& flag_dir);

struct TrainTest {
  Dataset train, test;
};

// Loads both splits of `name` from dir, checks channels / side / classes against the table
// and sets Dataset::name and class_names. Layouts:
//   mnist, fashion-mnist: train-images-idx3-ubyte, train-labels-idx1-ubyte,
//     t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each plain or .gz) in dir;
//   cifar10: the binary batches in dir or dir/cifar-10-batches-bin; else image folders
//     dir/{train,test} or dir/cifar10-jpeg/{train,test} whose class folders are the ten
//     CIFAR-10 names;
//   svhn: dir/train_32x32.mat and dir/test_32x32.mat.
// No layout present: lowbit::Error with one line naming dir and the files expected.
TrainTest load_dataset(const std::string& name, const std::string& dir);

}  // namespace lowbit
