// The data-set table, the search for a data set's directory, and the loading of both splits
// from whichever supported layout the directory holds.
#include "data/datasets.h"

#include <cstdlib>
#include <filesystem>

#include "core/check.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/split.h"
#include "data/svhn.h"

namespace lowbit {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDebianFashionDir = "/usr/share/datasets/fashion-mnist";

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? separator : "") + items[i];
  return s;
}

// Present at all: a directory or a FIFO in a file's place is then refused by its reader, by name.
bool exists_maybe_gzipped(const fs::path& path) {
  return fs::exists(path) || fs::exists(path.string() + ".gz");
}

TrainTest load_idx_layout(const DatasetInfo& info, const fs::path& dir) {
  const std::vector<std::string> names = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::vector<std::string> missing;
  for (const std::string& name : names)
    if (!exists_maybe_gzipped(dir / name)) missing.push_back(name);
  LOWBIT_CHECK(missing.empty(), dir.string(), ": missing ", join(missing, ", "),
               " (plain or .gz); expected the ", info.name, " IDX files ", join(names, ", "));
  const int classes = static_cast<int>(info.num_classes);
  return {load_idx((dir / names[0]).string(), (dir / names[1]).string(), classes),
          load_idx((dir / names[2]).string(), (dir / names[3]).string(), classes)};
}

bool has_cifar_batches(const fs::path& dir) {
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"})
    if (fs::exists(dir / name)) return true;
  return false;
}

Dataset load_cifar_folder(const fs::path& dir) {
  Dataset d = load_image_folder(dir.string(), 3, 32);
  // Sorted folder names give the labels, and the CIFAR-10 names are in sorted order, so
  // checking the names is checking the labels.
  LOWBIT_CHECK(d.class_names == cifar10_class_names(), dir.string(), ": class folders ",
               join(d.class_names, " "), "; expected the ten CIFAR-10 classes ",
               join(cifar10_class_names(), " "));
  // The official batches mix the classes; a folder groups them. Interleaving makes every
  // prefix of the set (--train-subset) hold all ten classes, as a prefix of the batches does.
  return interleave_classes(d);
}

TrainTest load_cifar10_layout(const fs::path& dir) {
  for (const fs::path& candidate : {dir, dir / "cifar-10-batches-bin"})
    if (has_cifar_batches(candidate))
      return {load_cifar10_binary(candidate.string(), true),
              load_cifar10_binary(candidate.string(), false)};
  for (const fs::path& candidate : {dir, dir / "cifar10-jpeg"})
    if (fs::is_directory(candidate / "train") || fs::is_directory(candidate / "test"))
      return {load_cifar_folder(candidate / "train"), load_cifar_folder(candidate / "test")};
  throw Error(concat(
      dir.string(), ": no CIFAR-10 data; expected data_batch_1.bin .. data_batch_5.bin and ",
      "test_batch.bin (in it or in cifar-10-batches-bin/), or image folders train/<class>/ and ",
      "test/<class>/ (in it or in cifar10-jpeg/)"));
}

TrainTest load_svhn_layout(const fs::path& dir) {
  const fs::path train = dir / "train_32x32.mat", test = dir / "test_32x32.mat";
  LOWBIT_CHECK(fs::exists(train) || fs::exists(test), dir.string(),
               ": no SVHN data; expected train_32x32.mat and test_32x32.mat");
  return {load_svhn_mat(train.string()), load_svhn_mat(test.string())};
}

void check_against_table(const Dataset& d, const DatasetInfo& info, const std::string& dir,
                         const char* split) {
  LOWBIT_CHECK(d.channels == info.channels && d.height == info.side && d.width == info.side, dir,
               ": the ", split, " split has ", d.channels, "x", d.height, "x", d.width,
               " images, expected ", info.channels, "x", info.side, "x", info.side, " for ",
               info.name);
  LOWBIT_CHECK(d.size() > 0, dir, ": the ", split, " split is empty");
  for (int32_t label : d.labels)
    LOWBIT_CHECK(label >= 0 && label < info.num_classes, dir, ": the ", split, " split has label ",
                 label, ", expected 0..", info.num_classes - 1, " for ", info.name);
}

}  // namespace

std::vector<std::string> dataset_class_names(const std::string& name) {
  if (name == "fashion-mnist")
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (name == "cifar10") return cifar10_class_names();
  return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};  // mnist, svhn: the digits
}

const std::vector<DatasetInfo>& dataset_table() {
  // Mean and standard deviation over all training pixels in [0, 1], per channel. For
  // CIFAR-10 that is (0.2470, 0.2435, 0.2616); the also-quoted (0.2023, 0.1994, 0.2010) is
  // the mean of per-image deviations, not the deviation of the pixels.
  static const std::vector<DatasetInfo> table = {
      {"mnist", 1, 28, 10, {0.1307f}, {0.3081f}, false, 0},
      {"fashion-mnist", 1, 28, 10, {0.2860f}, {0.3530f}, false, 0},
      {"cifar10", 3, 32, 10, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}, true, 4},
      {"svhn", 3, 32, 10, {0.4377f, 0.4438f, 0.4728f}, {0.1980f, 0.2010f, 0.1970f}, false, 4},
  };
  return table;
}

const DatasetInfo& dataset_info(const std::string& name) {
  std::vector<std::string> known;
  for (const DatasetInfo& info : dataset_table()) {
    if (info.name == name) return info;
    known.push_back(info.name);
  }
  throw Error(concat("unknown data set '", name, "'; known: ", join(known, ", ")));
}

std::string resolve_data_dir(const std::string& name, const std::string& flag_dir) {
  dataset_info(name);  // an unknown name is an error before any directory is looked at
  if (!flag_dir.empty()) {
    LOWBIT_CHECK(fs::is_directory(flag_dir), flag_dir, ": no such directory (the ", name,
                 " data directory given)");
    return flag_dir;
  }
  std::vector<std::string> candidates;
  const char* root = std::getenv("LOWBIT_DATA");
  if (root != nullptr && *root != '\0') candidates.push_back((fs::path(root) / name).string());
  candidates.push_back((fs::path(".") / "data" / name).string());
  if (name == "fashion-mnist") candidates.push_back(kDebianFashionDir);
  for (const std::string& candidate : candidates)
    if (fs::is_directory(candidate)) return candidate;
  throw Error(concat("no ", name, " data: looked in ", join(candidates, ", "),
                     "; get it with scripts/download-data.sh ", name,
                     " --dir DIR (then set LOWBIT_DATA=DIR or pass DIR/", name, ")",
                     name == "fashion-mnist" ? ", or apt-get install dataset-fashion-mnist" : ""));
}

TrainTest load_dataset(const std::string& name, const std::string& dir) {
  const DatasetInfo& info = dataset_info(name);
  LOWBIT_CHECK(fs::is_directory(dir), dir, ": no such directory (expected the ", name, " data)");
  TrainTest data;
  if (name == "mnist" || name == "fashion-mnist") {
    data = load_idx_layout(info, dir);
  } else if (name == "cifar10") {
    data = load_cifar10_layout(dir);
  } else if (name == "svhn") {
    data = load_svhn_layout(dir);
  } else {
    throw Error(concat("data set '", name, "' is in the table but has no loader"));
  }
  for (Dataset* d : {&data.train, &data.test}) {
    check_against_table(*d, info, dir, d == &data.train ? "train" : "test");
    d->name = info.name;
    d->class_names = dataset_class_names(name);
  }
  return data;
}

}  // namespace lowbit
