// lowbit-pack and lowbit-infer end to end, as a user runs them: a LeNet-5 trained by lowbit-train
// on a small MNIST-format data set written here and quantized to 4 bits by lowbit-quantize is
// packed; lowbit-infer's accuracy on the test split equals lowbit-eval --integer's; a C program
// linked to liblowbit_runtime alone gives the integer-only model's logits exactly; image files get
// their top classes; bad input gets one line and exit status 2.
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/fat/quantize_model.h"
#include "core/autograd.h"
#include "core/rng.h"
#include "models/transforms/integer_model.h"
#include "tests/gradcheck.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"

namespace fs = std::filesystem;
using namespace lowbit::testing;

namespace {

// A trained LeNet-5, quantized to 4 bits and packed, for every test of this file.
struct Packed {
  TempRoot root{"lowbit_pack_test"};
  fs::path data, quantized, model;
  std::string pack_output;
  Packed() {
    data = root.dir("bars");
    write_class_bars(data, "train", 600, 1);
    write_class_bars(data, "t10k", 200, 2);
    const fs::path run = root.dir("float"), q = root.dir("q4");
    CommandResult r =
        run_command(std::string(LOWBIT_TRAIN_BIN) + " --model lenet5 --dataset mnist --data-dir " +
                    data.string() +
                    " --epochs 1 --batch-size 50 --threads 1 --seed 3 --val-split 100 --overwrite "
                    "--out " +
                    run.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    r = run_command(std::string(LOWBIT_QUANTIZE_BIN) + " --checkpoint " +
                    (run / "best.ckpt").string() + " --data-dir " + data.string() +
                    " --bits 4 --epochs 1 --threads 1 --overwrite --out " + q.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    quantized = q / "quantized.ckpt";
    model = root.dir("pack") / "lenet5-4bit.lbm";
    r = run_command(std::string(LOWBIT_PACK_BIN) + " --checkpoint " + quantized.string() +
                    " --out " + model.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    pack_output = r.output;
  }
  std::string infer(const std::string& flags) const {
    return std::string(LOWBIT_INFER_BIN) + " --model " + model.string() + " --threads 2 " + flags;
  }
};

const Packed& packed() {
  static const Packed p;
  return p;
}

}  // namespace

TEST_CASE("lowbit-pack writes a small file that the runtime reads back exactly", "[apps][pack]") {
  const Packed& p = packed();
  INFO(p.pack_output);
  CHECK(p.pack_output.find("lenet5 on mnist, 4-bit") != std::string::npos);
  CHECK(
      p.pack_output.find("loaded back by the runtime: the integer-only model's logits, exactly") !=
      std::string::npos);
  // LeNet-5 has 61,706 parameters: 4-bit codes take ~31 KB of its 247 KB float32; the scales,
  // biases and multipliers add little.
  const auto size = static_cast<int64_t>(fs::file_size(p.model));
  CHECK(size < 61706 * 4 / 6);
  CHECK(p.pack_output.find(std::to_string(size) + " bytes: ") != std::string::npos);
}

TEST_CASE("lowbit-infer's test accuracy is lowbit-eval --integer's", "[apps][pack]") {
  const Packed& p = packed();
  const fs::path results = p.root.dir("eval") / "results.json";
  const CommandResult eval =
      run_command(std::string(LOWBIT_EVAL_BIN) + " --checkpoint " + p.quantized.string() +
                  " --data-dir " + p.data.string() + " --integer --json " + results.string());
  INFO(eval.output);
  REQUIRE(eval.status == 0);
  const CommandResult infer = run_command(p.infer("--data-dir " + p.data.string() + " --json"));
  INFO(infer.output);
  REQUIRE(infer.status == 0);
  const auto want = nlohmann::json::parse(read_text(results));
  const auto got = nlohmann::json::parse(infer.output);
  CHECK(got["images"] == 200);
  CHECK(got["accuracy"].get<double>() == want["test_accuracy"].get<double>());
  CHECK(got["images_per_second"].get<double>() > 0);
  const CommandResult text = run_command(p.infer("--data-dir " + p.data.string()));
  CHECK(text.output.find("accuracy ") != std::string::npos);
  CHECK(text.output.find("images/s (") != std::string::npos);
}

TEST_CASE("a C program linked to liblowbit_runtime alone gives the integer-only logits exactly",
          "[apps][pack]") {
  const Packed& p = packed();
  lowbit::Rng rng(9);
  const lowbit::Tensor images = random_tensor({5, 1, 28, 28}, rng, -0.5f, 2.5f);
  const fs::path raw = p.root.dir("embed") / "images.f32";
  std::ofstream(raw, std::ios::binary)
      .write(reinterpret_cast<const char*>(images.data()),
             static_cast<std::streamsize>(images.numel() * sizeof(float)));
  const CommandResult r = run_command(std::string(LOWBIT_RUNTIME_EMBED_BIN) + " " +
                                      p.model.string() + " " + raw.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  const lowbit::QuantizedModel q = lowbit::load_quantized_checkpoint(p.quantized.string());
  lowbit::IntegerModel integer(*q.model);
  const lowbit::Tensor want = eval_no_grad(integer, images);
  // stdout: the logits, a line per image; stderr (merged by run_command): one summary line.
  std::istringstream lines(r.output);
  std::vector<float> got;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" kernel, ") != std::string::npos) continue;
    std::istringstream values(line);
    for (float v; values >> v;) got.push_back(v);
  }
  CHECK(r.output.find("5 images, ") != std::string::npos);
  REQUIRE(static_cast<int64_t>(got.size()) == want.numel());
  for (int64_t j = 0; j < want.numel(); ++j) CHECK(got[static_cast<size_t>(j)] == want.data()[j]);

  const CommandResult bad =
      run_command(std::string(LOWBIT_RUNTIME_EMBED_BIN) + " " + raw.string() + " " + raw.string());
  CHECK(bad.status == 2);
  CHECK(bad.output == "runtime_embed: " + raw.string() +
                          ": not a lowbit packed model (magic number LOWBITRT missing)\n");
}

TEST_CASE("lowbit-infer names the top classes of image files", "[apps][pack]") {
  const Packed& p = packed();
  const fs::path dir = p.root.dir("images");
  std::vector<uint8_t> pixels(28 * 28, 0);
  for (int y = 10; y < 17; ++y)
    for (int x = 5; x < 9; ++x) pixels[static_cast<size_t>(y * 28 + x)] = 230;
  const fs::path png = dir / "bar.png";
  REQUIRE(stbi_write_png(png.c_str(), 28, 28, 1, pixels.data(), 28) != 0);
  const CommandResult text = run_command(p.infer(png.string() + " " + png.string()));
  INFO(text.output);
  REQUIRE(text.status == 0);
  CHECK(text.output.find("  1. ") != std::string::npos);
  CHECK(text.output.find("  5. ") != std::string::npos);
  CHECK(text.output.find("2 images, ") != std::string::npos);
  const CommandResult json = run_command(p.infer("--json --top 3 " + png.string()));
  REQUIRE(json.status == 0);
  const auto j = nlohmann::json::parse(json.output);
  CHECK(j["images"] == 1);
  REQUIRE(j["predictions"][0]["top"].size() == 3);
  double total = 0;
  for (const auto& t : j["predictions"][0]["top"]) total += t["probability"].get<double>();
  CHECK(total <= 1.0 + 1e-9);
}

TEST_CASE("lowbit-pack and lowbit-infer: bad input gives one line and exit status 2",
          "[apps][pack]") {
  const Packed& p = packed();
  const fs::path dir = p.root.dir("bad");
  std::ifstream in(p.model, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path cut = dir / "cut.lbm";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::vector<uint8_t> rgb(32 * 32 * 3, 7);
  const fs::path big = dir / "big.png";
  REQUIRE(stbi_write_png(big.c_str(), 32, 32, 3, rgb.data(), 32 * 3) != 0);
  const fs::path text = dir / "notes.txt";
  std::ofstream(text) << "not an image";
  struct Case {
    std::string command, message;
  };
  for (const Case& c : {
           Case{std::string(LOWBIT_INFER_BIN) + " --model " + cut.string() + " " + big.string(),
                cut.string() + ": body size: "},
           Case{std::string(LOWBIT_INFER_BIN) + " --model " + dir.string() + " x.png",
                dir.string() + ": not a regular file; expected a packed model (.lbm)"},
           Case{p.infer(big.string()), big.string() + ": 32x32 pixels; the model takes 28x28"},
           Case{p.infer(text.string()), text.string() + ": cannot read the image ("},
           Case{p.infer(""), "expected image files or --data-dir DIR (one of the two)"},
           Case{p.infer(big.string() + " --data-dir " + p.data.string()),
                "expected image files or --data-dir DIR (one of the two)"},
           Case{std::string(LOWBIT_PACK_BIN) + " --checkpoint " + p.model.string() + " --out " +
                    (dir / "x.lbm").string(),
                p.model.string() + ": "},
           Case{std::string(LOWBIT_PACK_BIN) + " --checkpoint " + p.quantized.string() + " --out " +
                    p.model.string(),
                "--out " + p.model.string() + " already exists: pass --overwrite or another --out"},
       }) {
    const CommandResult r = run_command(c.command);
    INFO(c.command << "\n" << r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find(c.message) != std::string::npos);
    CHECK(count_occurrences(r.output, "\n") == 1);
  }
}
