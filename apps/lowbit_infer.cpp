// lowbit-infer: runs a packed model (.lbm, lowbit-pack) with the integer runtime alone, through its
// C API (core/runtime/lowbit_runtime.h): the top-5 classes of each image file given (PNG, JPEG,
// ... via stb_image), or the accuracy on a data set's test split (--data-dir); with the images per
// second either way. --json prints the same as one JSON object.
#include <stb/stb_image.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/flags.h"
#include "core/check.h"
#include "core/runtime/lowbit_runtime.h"
#include "data/augment.h"
#include "data/datasets.h"

using namespace lowbit;

namespace {

struct InferConfig {
  std::string model, data_dir;
  std::vector<std::string> images;
  bool json = false;
  int threads = 0;
  int64_t batch_size = 128;
  int64_t top = 5;
};

void add_infer_flags(CLI::App& app, InferConfig& c) {
  app.add_option("--model", c.model, "a packed model written by lowbit-pack (.lbm)")->required();
  app.add_option("images", c.images, "image files (PNG, JPEG, BMP, ...) to classify");
  app.add_option("--data-dir", c.data_dir,
                 "instead of images: the data set's directory (the model's data set, as "
                 "lowbit-train finds it): report the accuracy on its test split");
  app.add_flag("--json", c.json, "print one JSON object instead of text");
  app.add_option("--top", c.top, "classes listed per image")->check(CLI::Range(1, 1000));
  add_batch_size_flag(app, c.batch_size);
  add_threads_flag(app, c.threads);
}

using ModelPtr = std::unique_ptr<lowbit_model, decltype(&lowbit_model_free)>;

ModelPtr load(const std::string& path) {
  ModelPtr model(lowbit_model_load(path.c_str()), &lowbit_model_free);
  if (!model) throw Error(lowbit_last_error());
  return model;
}

void check_status(int status) {
  if (status != 0) throw Error(lowbit_last_error());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string class_name(const lowbit_model* model, int64_t k) {
  const std::string name = lowbit_model_class_name(model, k);
  return name.empty() ? concat("class ", k) : name;
}

// The data set the model was packed from, named by its metadata.
std::string model_dataset(const lowbit_model* model, const std::string& path) {
  const auto metadata = nlohmann::json::parse(lowbit_model_metadata(model), nullptr, false);
  LOWBIT_CHECK(
      metadata.is_object() && metadata.contains("dataset") && metadata["dataset"].is_string(), path,
      ": its metadata names no data set; --data-dir needs one");
  return metadata["dataset"].get<std::string>();
}

int run_data_set(const InferConfig& config, lowbit_model* model) {
  const std::string name = model_dataset(model, config.model);
  const std::string dir = resolve_data_dir(name, config.data_dir);
  const Dataset test = load_dataset(name, dir).test;
  const DatasetInfo& info = dataset_info(name);
  int64_t dims[3] = {0, 0, 0};
  LOWBIT_CHECK(lowbit_model_input_dims(model, dims) == 3 && dims[0] == test.channels &&
                   dims[1] == test.height && dims[2] == test.width,
               config.model, ": takes images (", dims[0], ", ", dims[1], ", ", dims[2],
               "); the test split of ", dir, " has (", test.channels, ", ", test.height, ", ",
               test.width, ")");
  const int64_t classes = lowbit_model_num_classes(model), size = test.image_bytes();
  const Normalization norm{info.mean, info.stddev};
  std::vector<float> images, logits;
  int64_t correct = 0;
  double run_seconds = 0;
  for (int64_t begin = 0; begin < test.size(); begin += config.batch_size) {
    const int64_t n = std::min(config.batch_size, test.size() - begin);
    images.resize(static_cast<size_t>(n * size));
    logits.resize(static_cast<size_t>(n * classes));
    // The evaluation loader's normalization (no augmentation): lowbit-eval's very floats.
    for (int64_t i = 0; i < n; ++i)
      normalize_augment(test.pixels.data() + (begin + i) * size, test.channels, test.height,
                        test.width, norm, 0, 0, false, images.data() + i * size);
    const auto start = std::chrono::steady_clock::now();
    check_status(lowbit_model_run(model, images.data(), n, logits.data(), config.threads));
    run_seconds += seconds_since(start);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data() + i * classes;
      const int64_t best = std::max_element(row, row + classes) - row;
      correct += best == test.labels[static_cast<size_t>(begin + i)];
    }
  }
  const double accuracy = 100.0 * correct / std::max<int64_t>(test.size(), 1);
  const double rate = test.size() / std::max(run_seconds, 1e-9);
  if (config.json) {
    std::printf("%s\n", nlohmann::json{{"model", config.model},
                                       {"dataset", name},
                                       {"kernel", lowbit_model_kernel(model)},
                                       {"accuracy", accuracy},
                                       {"images", test.size()},
                                       {"images_per_second", rate}}
                            .dump()
                            .c_str());
  } else {
    std::printf("%s on the %s test split (%s): accuracy %.2f%% of %lld images\n",
                config.model.c_str(), name.c_str(), dir.c_str(), accuracy,
                static_cast<long long>(test.size()));
    std::printf("%.0f images/s (%s kernel, batches of %lld)\n", rate, lowbit_model_kernel(model),
                static_cast<long long>(config.batch_size));
  }
  return 0;
}

// One image file as the model's 8-bit pixels (H, W, C); a wrong size is refused by name.
std::vector<uint8_t> read_image(const std::string& path, const int64_t dims[3]) {
  int width = 0, height = 0, channels = 0;
  const int want = static_cast<int>(dims[0]);
  std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> pixels(
      stbi_load(path.c_str(), &width, &height, &channels, want), &stbi_image_free);
  LOWBIT_CHECK(pixels != nullptr, path, ": cannot read the image (", stbi_failure_reason(),
               "); expected a PNG, JPEG, BMP, GIF, TGA or PNM file");
  LOWBIT_CHECK(height == dims[1] && width == dims[2], path, ": ", width, "x", height,
               " pixels; the model takes ", dims[2], "x", dims[1]);
  return {pixels.get(), pixels.get() + int64_t{width} * height * want};
}

int run_images(const InferConfig& config, lowbit_model* model) {
  int64_t dims[3] = {0, 0, 0};
  LOWBIT_CHECK(lowbit_model_input_dims(model, dims) == 3 && (dims[0] == 1 || dims[0] == 3),
               config.model, ": takes no images of 1 or 3 channels");
  const int64_t n = static_cast<int64_t>(config.images.size());
  const int64_t classes = lowbit_model_num_classes(model);
  std::vector<uint8_t> pixels;
  for (const std::string& path : config.images) {
    const std::vector<uint8_t> one = read_image(path, dims);
    pixels.insert(pixels.end(), one.begin(), one.end());
  }
  std::vector<float> logits(static_cast<size_t>(n * classes));
  const auto start = std::chrono::steady_clock::now();
  check_status(lowbit_model_run_pixels(model, pixels.data(), n, logits.data(), config.threads));
  const double rate = n / std::max(seconds_since(start), 1e-9);
  const int64_t top = std::min(config.top, classes);
  nlohmann::json results = nlohmann::json::array();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * classes;
    // Softmax probabilities, for a reader; the order is the logits'.
    const float peak = *std::max_element(row, row + classes);
    std::vector<double> p(static_cast<size_t>(classes));
    double total = 0;
    for (int64_t k = 0; k < classes; ++k)
      total += p[static_cast<size_t>(k)] = std::exp(row[k] - peak);
    std::vector<int64_t> order(static_cast<size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    nlohmann::json ranked = nlohmann::json::array();
    if (!config.json) std::printf("%s\n", config.images[static_cast<size_t>(i)].c_str());
    for (int64_t r = 0; r < top; ++r) {
      const int64_t k = order[static_cast<size_t>(r)];
      const double probability = p[static_cast<size_t>(k)] / total;
      ranked.push_back(
          {{"class", k}, {"name", class_name(model, k)}, {"probability", probability}});
      if (!config.json)
        std::printf("  %lld. %-12s %6.2f%%\n", static_cast<long long>(r + 1),
                    class_name(model, k).c_str(), 100.0 * probability);
    }
    results.push_back({{"image", config.images[static_cast<size_t>(i)]}, {"top", ranked}});
  }
  if (config.json)
    std::printf("%s\n", nlohmann::json{{"model", config.model},
                                       {"kernel", lowbit_model_kernel(model)},
                                       {"images", n},
                                       {"images_per_second", rate},
                                       {"predictions", results}}
                            .dump()
                            .c_str());
  else
    std::printf("%lld images, %.0f images/s (%s kernel)\n", static_cast<long long>(n), rate,
                lowbit_model_kernel(model));
  return 0;
}

int run(const InferConfig& config) {
  LOWBIT_CHECK(config.images.empty() != config.data_dir.empty(),
               "expected image files or --data-dir DIR (one of the two)");
  ModelPtr model = load(config.model);
  return config.data_dir.empty() ? run_images(config, model.get())
                                 : run_data_set(config, model.get());
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(argc, argv, "lowbit-infer",
                     "lowbit-infer: a packed model (.lbm) run by the integer runtime on image "
                     "files (top classes) or on a data set's test split (accuracy)",
                     add_infer_flags, run);
}
