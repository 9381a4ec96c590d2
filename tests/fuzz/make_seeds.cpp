// The seed corpora's generator: writes the valid minimal inputs and a few invalid ones of every
// fuzz target to <folder>/corpus/<target>/, and the JSON targets' dictionaries (their keys) to
// <folder>/dict/, with lowbit's own writers where it has them. Each seed is run through its target
// as it is written, and the generator fails when a seed meant to be read is refused, or the
// reverse. Inputs the fuzzer found are committed beside these (regression-*) and left alone.
//   cmake --build build --target fuzz_make_seeds && build/tests/fuzz/fuzz_make_seeds tests/fuzz
#include <matio.h>
#include <stb/stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/fat/quantize_config.h"
#include "apps/train/train_config.h"
#include "core/checkpoint.h"
#include "core/runtime/float_join.h"
#include "core/runtime/lbm_format.h"
#include "core/runtime/thresholds.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/runtime_programs.h"

using namespace lowbit;
using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

namespace {

using fuzz::Outcome;

fs::path g_root;
int g_failures = 0;

// Writes one seed and checks that its target reads (or refuses) it as meant.
void seed(const std::string& target, const std::string& name, const Bytes& bytes, Outcome meant,
          const std::function<Outcome(const uint8_t*, size_t)>& run) {
  const fs::path folder = g_root / "corpus" / target;
  fs::create_directories(folder);
  std::ofstream(folder / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  const Outcome got = run(bytes.data(), bytes.size());
  const bool ok = got == meant;
  g_failures += ok ? 0 : 1;
  std::printf("%s %s/%s (%zu bytes): %s\n", ok ? "  " : "!!", target.c_str(), name.c_str(),
              bytes.size(), got == Outcome::kRead ? "read" : "refused");
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

Bytes cut(Bytes b, size_t n) {
  b.resize(std::min(n, b.size()));
  return b;
}

Bytes gzip(const Bytes& data) { return fuzz::gzip(data.data(), data.size()); }

// ---- checkpoint and training_checkpoint ----

Bytes checkpoint_bytes(const Checkpoint& c) {
  const std::string path = (fs::temp_directory_path() / "lowbit_fuzz_seed.ckpt").string();
  save_checkpoint(path, c);
  Bytes b = file_bytes(path);
  fs::remove(path);
  return b;
}

// The least a stored configuration holds: its model and data set.
const char* const kMinimalConfig = R"({"model":"lenet5","dataset":"mnist"})";

const char* const kProgress =
    R"({"epochs_done":1,"steps_done":10,"best_val_accuracy":0.5,"best_epoch":1,)"
    R"("train_seconds":2.5,"train_images":100,"history":[{"epoch":1,"train_loss":2.0,)"
    R"("train_accuracy":0.25,"val_loss":2.1,"val_accuracy":0.5,"lr":0.001,"seconds":2.5,)"
    R"("images_per_second":40.0}]})";

void checkpoint_seeds() {
  auto put = [](const std::string& name, const Bytes& b, Outcome meant) {
    seed("checkpoint", name, b, meant, fuzz::checkpoint);
  };
  put("minimal.ckpt", checkpoint_bytes(Checkpoint{}), Outcome::kRead);
  Checkpoint c;
  c.config = kMinimalConfig;
  Tensor w = Tensor::zeros({2, 1, 3, 3});
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = 0.125f * static_cast<float>(i % 5 - 2);
  c.tensors.push_back({"model.conv1.weight", w});
  c.tensors.push_back({"model.bn1.running_var", Tensor::full({2}, 1.0f)});
  c.blobs.push_back({"rng", Bytes(32, 7)});
  c.blobs.push_back({"progress", text(kProgress)});
  const Bytes model = checkpoint_bytes(c);
  put("model.ckpt", model, Outcome::kRead);
  put("truncated.ckpt", cut(model, 60), Outcome::kRefused);
  Bytes bad_version = model;
  bad_version[8] = 2;  // the CRC no longer matches, and once made right the version is refused
  put("version2.ckpt", bad_version, Outcome::kRefused);
  // Found by this target: the count of a shape with a zero after two huge dimensions is 0, not an
  // overflow (core/shape.h).
  Checkpoint empty_tensor;
  empty_tensor.tensors.push_back(
      {"empty", Tensor::empty(Shape({int64_t{1} << 40, int64_t{1} << 40, 0}))});
  put("zero_after_huge_dims.ckpt", checkpoint_bytes(empty_tensor), Outcome::kRead);
}

void training_checkpoint_seeds() {
  auto put = [](const std::string& name, const std::string& config, const std::string& progress,
                Outcome meant) {
    Bytes b = text(config);
    if (!progress.empty()) {
      b.push_back(0);
      b.insert(b.end(), progress.begin(), progress.end());
    }
    seed("training_checkpoint", name, b, meant, fuzz::training_checkpoint);
  };
  put("run.json", to_json(TrainConfig{}).dump(), kProgress, Outcome::kRead);
  put("minimal.json", kMinimalConfig, kProgress, Outcome::kRead);
  put("no_progress.json", kMinimalConfig, "", Outcome::kRefused);
  put("no_model.json", "{}", kProgress, Outcome::kRefused);
  put("wrong_type.json", R"({"model":"lenet5","dataset":"mnist","augment":1})", kProgress,
      Outcome::kRefused);
  put("progress_wrong_type.json", kMinimalConfig, R"({"epochs_done":"1"})", Outcome::kRefused);
}

// ---- JSON configurations ----

void config_seeds() {
  auto train = [](const std::string& name, const std::string& json, Outcome meant) {
    seed("train_config", name, text(json), meant, fuzz::train_config);
  };
  TrainConfig pow2;
  pow2.model = "resnet20";
  pow2.weights = "pow2";
  pow2.act = "pow2";
  pow2.input_mean = {0.5f};
  pow2.input_std = {0.25f};
  train("defaults.json", to_json(TrainConfig{}).dump(1), Outcome::kRead);
  train("pow2.json", to_json(pow2).dump(), Outcome::kRead);
  train("minimal.json", kMinimalConfig, Outcome::kRead);
  train("empty.json", "{}", Outcome::kRefused);  // every run names its model and data set
  train("width.json", R"({"model":"mobilenetv2","dataset":"cifar10","width_multiplier":1000})",
        Outcome::kRefused);
  train("wrong_type.json", R"({"model":"lenet5","dataset":"mnist","augment":1,"epochs":"30"})",
        Outcome::kRefused);
  train("array.json", "[1,2]", Outcome::kRefused);

  auto quantize = [](const std::string& name, const std::string& json, Outcome meant) {
    seed("quantize_config", name, text(json), meant, fuzz::quantize_config);
  };
  const nlohmann::json defaults = to_json(QuantizeConfig{});
  quantize("defaults.json", defaults.dump(1), Outcome::kRead);
  nlohmann::json old = defaults;
  old.erase("tie_images");  // written before rounding-tie clearance
  quantize("no_tie_images.json", old.dump(), Outcome::kRead);
  nlohmann::json wrong = defaults;
  wrong["bits"] = "4";
  quantize("wrong_type.json", wrong.dump(), Outcome::kRefused);
  quantize("missing_keys.json", R"({"bits":4})", Outcome::kRefused);
}

// A libFuzzer dictionary of a JSON record's keys ("\"model\""), so that mutations spell them.
void json_dictionary(const std::string& name, const std::vector<nlohmann::json>& records) {
  fs::create_directories(g_root / "dict");
  std::ofstream out(g_root / "dict" / (name + ".dict"));
  out << "# " << name << ": the keys lowbit reads (written by tests/fuzz/make_seeds.cpp)\n";
  std::map<std::string, bool> keys;
  for (const nlohmann::json& r : records)
    for (const auto& [key, value] : r.items()) keys[key] = true;
  for (const auto& [key, unused] : keys) out << "\"\\\"" << key << "\\\"\"\n";
  for (const char* v : {"true", "false", "null", "1e999", "-1", "[]", "{}"})
    out << "\"" << v << "\"\n";
}

// ---- IDX ----

void put_u32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// The idx target's input: flags, the images file's length, the images file, the labels file.
Bytes idx_input(uint8_t flags, const Bytes& images, const Bytes& labels) {
  Bytes b{flags, static_cast<uint8_t>(images.size() & 0xff),
          static_cast<uint8_t>(images.size() >> 8)};
  b.insert(b.end(), images.begin(), images.end());
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

void idx_seeds() {
  auto put = [](const std::string& name, const Bytes& b, Outcome meant) {
    seed("idx", name, b, meant, fuzz::idx);
  };
  auto images_file = [](uint32_t count, uint32_t rows, uint32_t cols, size_t pixels) {
    Bytes b;
    put_u32(b, 0x803);
    put_u32(b, count);
    put_u32(b, rows);
    put_u32(b, cols);
    for (size_t i = 0; i < pixels; ++i) b.push_back(static_cast<uint8_t>(i * 37));
    return b;
  };
  auto labels_file = [](const Bytes& labels) {
    Bytes b;
    put_u32(b, 0x801);
    put_u32(b, static_cast<uint32_t>(labels.size()));
    b.insert(b.end(), labels.begin(), labels.end());
    return b;
  };
  const Bytes images = images_file(3, 4, 5, 60), labels = labels_file({0, 9, 4});
  put("plain", idx_input(0, images, labels), Outcome::kRead);
  put("gzip", idx_input(1 | 2, images, labels), Outcome::kRead);
  put("gzip_sibling", idx_input(1 | 2 | 4, images, labels), Outcome::kRead);
  // gzip bytes written as they are: the inflater's own paths.
  put("gzip_bytes", idx_input(0, gzip(images), gzip(labels)), Outcome::kRead);
  put("label_10", idx_input(0, images, labels_file({0, 10, 4})), Outcome::kRefused);
  put("count_mismatch", idx_input(0, images, labels_file({0, 9})), Outcome::kRefused);
  // A gzip bomb in small: 2 images of 2x2 and 4 KiB of zeros behind them.
  put("trailing_zeros", idx_input(1, images_file(2, 2, 2, 4096 + 8), labels_file({1, 2})),
      Outcome::kRefused);
}

// ---- CIFAR-10 ----

void cifar10_seeds() {
  Bytes record(3073);
  for (size_t i = 0; i < record.size(); ++i) record[i] = static_cast<uint8_t>(i * 13);
  record[0] = 3;
  seed("cifar10", "one_record.bin", record, Outcome::kRead, fuzz::cifar10);
  record[0] = 10;
  seed("cifar10", "label_10.bin", record, Outcome::kRefused, fuzz::cifar10);
  seed("cifar10", "short.bin", cut(record, 3000), Outcome::kRefused, fuzz::cifar10);
}

// ---- images ----

void append_to(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

void image_seeds() {
  const int w = 5, h = 3;
  Bytes pixels(8 * 8 * 4);  // enough for the 8x8 JPEG too
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 29);
  auto put = [](const std::string& name, const Bytes& b, Outcome meant) {
    seed("image_folder", name, b, meant, fuzz::image_folder);
  };
  for (int channels : {1, 2, 3, 4}) {
    Bytes png;
    stbi_write_png_to_func(append_to, &png, w, h, channels, pixels.data(), w * channels);
    put("c" + std::to_string(channels) + ".png", png, Outcome::kRead);
  }
  Bytes bmp, jpg, progressive;
  stbi_write_bmp_to_func(append_to, &bmp, w, h, 3, pixels.data());
  put("rgb.bmp", bmp, Outcome::kRead);
  stbi_write_jpg_to_func(append_to, &jpg, 8, 8, 3, pixels.data(), 90);
  put("rgb.jpg", jpg, Outcome::kRead);
  put("truncated.jpg", cut(jpg, jpg.size() / 2), Outcome::kRefused);
  put("not_an_image", text("GIF89a"), Outcome::kRefused);
}

// ---- SVHN ----

void svhn_seeds() {
  const std::string path = (fs::temp_directory_path() / "lowbit_fuzz_seed.mat").string();
  // `y_class` labels (double in the official files) of one image, stored compressed or not.
  auto mat = [&](matio_classes y_class, matio_types y_type, void* y, matio_compression compression,
                 size_t x_rank) {
    fs::remove(path);
    // A fixed header text: matio's default holds the time of writing.
    mat_t* m = Mat_CreateVer(path.c_str(), "MATLAB 5.0 MAT-file, lowbit fuzz seed", MAT_FT_MAT5);
    static Bytes x(32 * 32 * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 3);
    size_t x_dims[4] = {32, 32, 3, 1}, y_dims[2] = {1, 1};
    matvar_t* xv = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, static_cast<int>(x_rank), x_dims,
                                 x.data(), MAT_F_DONT_COPY_DATA);
    matvar_t* yv = Mat_VarCreate("y", y_class, y_type, 2, y_dims, y, MAT_F_DONT_COPY_DATA);
    Mat_VarWrite(m, xv, compression);
    Mat_VarWrite(m, yv, compression);
    Mat_VarFree(xv);
    Mat_VarFree(yv);
    Mat_Close(m);
    Bytes b = file_bytes(path);
    fs::remove(path);
    return b;
  };
  double ten = 10, zero = 0;
  uint8_t three = 3;
  auto put = [](const std::string& name, const Bytes& b, Outcome meant) {
    seed("svhn", name, b, meant, fuzz::svhn);
  };
  put("plain.mat", mat(MAT_C_DOUBLE, MAT_T_DOUBLE, &ten, MAT_COMPRESSION_NONE, 4), Outcome::kRead);
  put("compressed.mat", mat(MAT_C_DOUBLE, MAT_T_DOUBLE, &ten, MAT_COMPRESSION_ZLIB, 4),
      Outcome::kRead);
  put("uint8_labels_rank3.mat", mat(MAT_C_UINT8, MAT_T_UINT8, &three, MAT_COMPRESSION_NONE, 3),
      Outcome::kRead);
  put("label_0.mat", mat(MAT_C_DOUBLE, MAT_T_DOUBLE, &zero, MAT_COMPRESSION_ZLIB, 4),
      Outcome::kRefused);
}

// ---- packed models ----

Bytes program_bytes(const runtime::Program& p) {
  const std::string s = runtime::encode_program(p);
  return Bytes(s.begin(), s.end());
}

// A (2, 1, 2) image through a wide product (a 1x1 convolution to 2 channels with thresholds),
// a threshold operation and a global average pooling, to 2 classes: a version 3 file.
runtime::Program folded_program() {
  runtime::Program program;
  program.info.metadata = R"({"model":"folded"})";
  program.info.input_dims = {2, 1, 2};
  program.info.num_classes = 2;
  runtime::WideProduct wide;
  wide.in_channels = 2;
  wide.out_channels = 2;
  wide.weights = {3, -2, 1, 5};
  wide.thresholds.channels = 2;
  wide.thresholds.levels = {0, 8};
  wide.thresholds.thresholds = {0, 4};
  runtime::ThresholdMap map;
  map.channels = 2;
  map.levels = {-8, 0, 8};
  map.thresholds = {-3, 4, runtime::ThresholdMap::kAlways, runtime::ThresholdMap::kNever};
  const std::vector<std::pair<runtime::OpKind, std::vector<int64_t>>> ops = {
      {runtime::OpKind::kWideProduct, wide.params()},
      {runtime::OpKind::kThresholds, map.params()},
      {runtime::OpKind::kGlobalAvgPool, {}}};
  for (const auto& [kind, params] : ops) {
    runtime::Op op;
    op.kind = kind;
    op.inputs = {program.num_values - 1};
    op.output = program.num_values++;
    op.params = params;
    program.ops.push_back(op);
  }
  return program;
}

// A (2, 1, 2) image joined with itself by a float join (the image's codes as both accumulators,
// each at 2^-22) and a global average pooling, to 2 classes: a version 4 file.
runtime::Program joined_program() {
  runtime::Program program;
  program.info.metadata = R"({"model":"joined"})";
  program.info.input_dims = {2, 1, 2};
  program.info.num_classes = 2;
  runtime::FloatJoin join;
  join.channels = 2;
  join.levels = {-8, 0, 8};
  join.thresholds = {-0.5f, 0.5f};
  for (int i = 0; i < 2; ++i) {
    join.step_x[i] = 1.0f / 1024;
    join.step_w[i] = 1.0f / 4096;
    join.scale[i] = {0.5f, -0.25f};
    join.shift[i] = {0.125f, 0.0f};
  }
  runtime::Op op;
  op.kind = runtime::OpKind::kFloatJoin;
  op.inputs = {0, 0};
  op.output = program.num_values++;
  op.params = join.params();
  program.ops.push_back(op);
  op = runtime::Op();
  op.kind = runtime::OpKind::kGlobalAvgPool;
  op.inputs = {1};
  op.output = program.num_values++;
  program.ops.push_back(op);
  return program;
}

void lbm_seeds() {
  auto put = [](const std::string& name, const Bytes& b, Outcome meant) {
    seed("lbm", name, b, meant, fuzz::lbm);
  };
  const Bytes tiny = program_bytes(testing::tiny_program());
  put("tiny.lbm", tiny, Outcome::kRead);
  put("every_operation.lbm", program_bytes(testing::every_operation_program()), Outcome::kRead);
  put("truncated.lbm", cut(tiny, tiny.size() - 9), Outcome::kRefused);
  // Version 2 (a level operation, a weight table) and version 3 (threshold folding's operations).
  put("pow2.lbm", program_bytes(testing::pow2_program()), Outcome::kRead);
  put("folded.lbm", program_bytes(folded_program()), Outcome::kRead);
  put("joined.lbm", program_bytes(joined_program()), Outcome::kRead);  // version 4: a float join
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FOLDER (tests/fuzz: writes FOLDER/corpus/*, FOLDER/dict/*)\n",
                 argv[0]);
    return 2;
  }
  g_root = argv[1];
  checkpoint_seeds();
  training_checkpoint_seeds();
  config_seeds();
  idx_seeds();
  cifar10_seeds();
  image_seeds();
  svhn_seeds();
  lbm_seeds();
  json_dictionary("train_config", {to_json(TrainConfig{})});
  json_dictionary("quantize_config", {to_json(QuantizeConfig{})});
  nlohmann::json progress = nlohmann::json::parse(kProgress);
  json_dictionary("training_checkpoint",
                  {to_json(TrainConfig{}), progress, progress["history"][0]});
  if (g_failures > 0)
    std::fprintf(stderr, "make_seeds: %d seed(s) not read as meant\n", g_failures);
  return g_failures > 0 ? 1 : 0;
}
