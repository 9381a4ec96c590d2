// split_validation and take_first: sizes, disjoint parts that cover every image, kept order and
// metadata, determinism per seed, and errors naming the value.
#include "data/split.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "core/check.h"
#include "core/rng.h"

using namespace lowbit;

namespace {

// n images of 1x1x2 pixels; image i holds (i % 256, i / 256) and label i, so every part can be
// traced back to the original indices through its labels.
Dataset indexed_dataset(int64_t n) {
  Dataset d;
  d.name = "indexed";
  d.channels = 1;
  d.height = 1;
  d.width = 2;
  d.class_names = {"a", "b"};
  for (int64_t i = 0; i < n; ++i) {
    d.pixels.push_back(static_cast<uint8_t>(i % 256));
    d.pixels.push_back(static_cast<uint8_t>(i / 256));
    d.labels.push_back(static_cast<int32_t>(i));
  }
  return d;
}

// The labels of a part, after checking that its pixels still belong to those labels.
std::vector<int32_t> indices_of(const Dataset& part) {
  REQUIRE(part.pixels.size() == static_cast<size_t>(part.size() * 2));
  for (int64_t k = 0; k < part.size(); ++k) {
    const int32_t i = part.labels[static_cast<size_t>(k)];
    CHECK(part.pixels[static_cast<size_t>(2 * k)] == i % 256);
    CHECK(part.pixels[static_cast<size_t>(2 * k + 1)] == i / 256);
  }
  return part.labels;
}

void check_metadata(const Dataset& part, const Dataset& data) {
  CHECK(part.name == data.name);
  CHECK(part.channels == data.channels);
  CHECK(part.height == data.height);
  CHECK(part.width == data.width);
  CHECK(part.class_names == data.class_names);
}

}  // namespace

TEST_CASE("split_validation: sizes, disjoint parts covering every image, original order kept",
          "[data][split]") {
  const Dataset data = indexed_dataset(1000);
  const TrainValSplit split = split_validation(data, 100, 42);
  CHECK(split.train.size() == 900);
  CHECK(split.val.size() == 100);
  check_metadata(split.train, data);
  check_metadata(split.val, data);
  const std::vector<int32_t> train = indices_of(split.train), val = indices_of(split.val);
  CHECK(std::is_sorted(train.begin(), train.end()));
  CHECK(std::is_sorted(val.begin(), val.end()));
  std::set<int32_t> all(train.begin(), train.end());
  all.insert(val.begin(), val.end());
  CHECK(all.size() == 1000);  // disjoint (no index twice) and together every index
  CHECK(*all.begin() == 0);
  CHECK(*all.rbegin() == 999);
  // A random pick, not a block: held-out images come from all over the set.
  CHECK(val.front() < 100);
  CHECK(val.back() >= 900);
}

TEST_CASE("split_validation depends on the seed alone", "[data][split]") {
  const Dataset data = indexed_dataset(500);
  manual_seed(1);
  const TrainValSplit a = split_validation(data, 50, 7);
  manual_seed(2);
  global_rng().next_u64();
  const TrainValSplit b = split_validation(data, 50, 7);
  CHECK(a.val.labels == b.val.labels);
  CHECK(a.train.labels == b.train.labels);
  CHECK(a.val.pixels == b.val.pixels);
  const TrainValSplit c = split_validation(data, 50, 8);
  CHECK(a.val.labels != c.val.labels);
  CHECK(split_validation(data, 50, 0).val.labels != split_validation(data, 50, 1).val.labels);
}

TEST_CASE("split_validation picks every image with equal chance", "[data][split]") {
  // 2000 seeds of a 1-in-4 hold-out from 8 images: each image is held out 500 times on average
  // (binomial standard deviation ~19), so 400..600 fails only for a biased pick.
  const Dataset data = indexed_dataset(8);
  std::vector<int> held(8, 0);
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    for (int32_t i : split_validation(data, 2, seed).val.labels) held[static_cast<size_t>(i)]++;
  }
  for (int count : held) {
    CHECK(count > 400);
    CHECK(count < 600);
  }
}

TEST_CASE("split_validation with val_count 0 keeps everything for training", "[data][split]") {
  const Dataset data = indexed_dataset(10);
  const TrainValSplit split = split_validation(data, 0, 3);
  CHECK(split.val.size() == 0);
  CHECK(split.val.pixels.empty());
  check_metadata(split.val, data);
  CHECK(split.train.labels == data.labels);
  CHECK(split.train.pixels == data.pixels);
  check_metadata(split.train, data);
  // The largest legal hold-out leaves one training image.
  CHECK(split_validation(data, 9, 3).train.size() == 1);
}

TEST_CASE("split_validation rejects a val_count outside 0..size-1 and broken datasets",
          "[data][split]") {
  const Dataset data = indexed_dataset(10);
  CHECK_THROWS_WITH(split_validation(data, 10, 0),
                    Catch::Contains("val_count 10") && Catch::Contains("10 images"));
  CHECK_THROWS_WITH(split_validation(data, 11, 0),
                    Catch::Contains("val_count 11") && Catch::Contains("10 images"));
  CHECK_THROWS_WITH(split_validation(data, -1, 0), Catch::Contains("val_count -1"));
  CHECK_THROWS_AS(split_validation(indexed_dataset(0), 0, 0), Error);
  Dataset broken = data;
  broken.pixels.pop_back();
  CHECK_THROWS_WITH(split_validation(broken, 2, 0),
                    Catch::Contains("19 pixel bytes") && Catch::Contains("= 20"));
  CHECK_THROWS_WITH(take_first(broken, 2), Catch::Contains("19 pixel bytes"));
}

TEST_CASE("take_first keeps the first n images and the metadata", "[data][split]") {
  const Dataset data = indexed_dataset(10);
  const Dataset first = take_first(data, 3);
  CHECK(first.labels == std::vector<int32_t>{0, 1, 2});
  CHECK(first.pixels == std::vector<uint8_t>{0, 0, 1, 0, 2, 0});
  check_metadata(first, data);
  for (int64_t n : {int64_t{0}, int64_t{-5}, int64_t{10}, int64_t{11}}) {
    const Dataset all = take_first(data, n);
    CHECK(all.labels == data.labels);
    CHECK(all.pixels == data.pixels);
    check_metadata(all, data);
  }
  CHECK(take_first(data, 9).size() == 9);
}

TEST_CASE("interleave_classes takes the i-th image of every class in turn", "[split]") {
  Dataset d;
  d.name = "grouped";
  d.channels = 1;
  d.height = 1;
  d.width = 1;
  d.class_names = {"a", "b", "c"};
  // Grouped by class as an image folder is: labels 0 0 0 1 2 2, pixels = index.
  d.labels = {0, 0, 0, 1, 2, 2};
  d.pixels = {0, 1, 2, 3, 4, 5};
  const Dataset out = interleave_classes(d);
  CHECK(out.labels == std::vector<int32_t>{0, 1, 2, 0, 2, 0});
  CHECK(out.pixels == std::vector<uint8_t>{0, 3, 4, 1, 5, 2});
  CHECK(out.class_names == d.class_names);
  // A prefix now holds every class.
  const Dataset prefix = take_first(out, 3);
  CHECK(prefix.labels == std::vector<int32_t>{0, 1, 2});
  d.labels[1] = -1;
  CHECK_THROWS_WITH(interleave_classes(d), Catch::Contains("label -1 at index 1"));
}
