// export_cifar_binary: writes a CIFAR-10 copy that lowbit loads (binary batches or an image
// folder such as cifar10-jpeg) in the official binary layout: data_batch_1..5.bin (10,000
// images each) and test_batch.bin, one label byte and 3072 pixel bytes (R, G, B planes) per
// image, in lowbit's order. Tools that read only the binary batches (bench/pytorch_cifar_recipe.py)
// then see exactly the images lowbit-train sees.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "core/check.h"
#include "data/datasets.h"

using namespace lowbit;

namespace {

// Images [begin, end) of `d` as binary records into `path`, written to a temporary file and
// renamed.
void write_records(const Dataset& d, int64_t begin, int64_t end,
                   const std::filesystem::path& path) {
  const std::filesystem::path partial = path.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    LOWBIT_CHECK(out.good(), partial.string(), ": cannot open for writing");
    for (int64_t i = begin; i < end; ++i) {
      const char label = static_cast<char>(d.labels[static_cast<size_t>(i)]);
      out.write(&label, 1);
      out.write(reinterpret_cast<const char*>(d.pixels.data() + i * d.image_bytes()),
                d.image_bytes());
    }
    out.flush();
    LOWBIT_CHECK(out.good(), partial.string(), ": write failed (disk full?)");
  }
  std::filesystem::rename(partial, path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"export_cifar_binary: a CIFAR-10 copy lowbit loads, in the official binary layout"};
  std::string data_dir, out_dir;
  app.add_option("--data-dir", data_dir,
                 "CIFAR-10 as lowbit-train reads it (binary batches or image folders)")
      ->required();
  app.add_option("--out", out_dir, "directory for data_batch_1..5.bin and test_batch.bin")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    const TrainTest data = load_dataset("cifar10", data_dir);
    LOWBIT_CHECK(data.train.size() == 50000 && data.test.size() == 10000, data_dir, ": ",
                 data.train.size(), " training and ", data.test.size(),
                 " test images; expected 50000 and 10000");
    std::filesystem::create_directories(out_dir);
    for (int64_t b = 0; b < 5; ++b) {
      write_records(
          data.train, b * 10000, (b + 1) * 10000,
          std::filesystem::path(out_dir) / ("data_batch_" + std::to_string(b + 1) + ".bin"));
    }
    write_records(data.test, 0, 10000, std::filesystem::path(out_dir) / "test_batch.bin");
    std::cout << "wrote " << out_dir << ": 5 training batches and test_batch.bin\n";
  } catch (const std::exception& e) {
    std::cerr << "export_cifar_binary: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
