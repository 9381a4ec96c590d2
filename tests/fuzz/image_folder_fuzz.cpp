// Fuzz target: the image decoder path (data/image_folder.h load_image_folder): a folder of one
// class holding one image, the bytes. The channel count asked for is 1 + the input's length mod 4,
// so that stb_image's every conversion (grey, grey + alpha, RGB, RGBA from any of them) is reached
// while the bytes stay a plain image file. The fuzz build compiles stb_image into this target with
// the sanitizers (stb_image_instrumented.c).
#include <filesystem>

#include "data/image_folder.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome image_folder(const uint8_t* data, size_t size) {
  const std::string root = fresh_folder("image_folder");
  const std::string class_folder = root + "/class";
  std::filesystem::create_directory(class_folder);
  write_file(class_folder + "/image.png", data, size);
  const int64_t channels = 1 + static_cast<int64_t>(size % 4);
  return read_or_refuse(root, [&] { (void)load_image_folder(root, channels); });
}

}  // namespace lowbit::fuzz
