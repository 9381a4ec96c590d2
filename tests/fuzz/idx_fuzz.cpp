// Fuzz target: an IDX image file and its label file, plain or gzip-compressed (data/idx.h
// load_idx). An input holds both files and how to write them:
//   byte 0      flags: 1 gzip the images, 2 gzip the labels (as <name>.gz), 4 name a gzip file
//               without its .gz (the reader finds the sibling)
//   bytes 1-2   the images file's length n, little-endian (cut to what is there)
//   n bytes     the images file, then the rest: the labels file
// The target compresses, so that mutations of what a gzip file holds reach the IDX checks behind
// the inflater; a file whose bytes are gzip already (1f 8b) is written as it is and reaches the
// inflater's own error paths.
#include <algorithm>
#include <vector>

#include "data/idx.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {
namespace {

enum Flags : uint8_t { kGzipImages = 1, kGzipLabels = 2, kBareName = 4 };

// Writes one file as the flags say; returns the path to give the reader.
std::string put(const std::string& folder, const std::string& name, const uint8_t* data,
                size_t size, bool compress, bool bare_name) {
  const std::string path = folder + "/" + name;
  if (!compress) {
    write_file(path, data, size);
    return path;
  }
  const std::vector<uint8_t> packed = gzip(data, size);
  write_file(path + ".gz", packed.data(), packed.size());
  return bare_name ? path : path + ".gz";
}

}  // namespace

Outcome idx(const uint8_t* data, size_t size) {
  const uint8_t flags = size > 0 ? data[0] : 0;
  const size_t images_size =
      std::min<size_t>(size < 3 ? 0 : data[1] | size_t{data[2]} << 8, size < 3 ? 0 : size - 3);
  const uint8_t* images = data + std::min<size_t>(size, 3);
  const uint8_t* labels = images + images_size;
  const size_t labels_size = size - static_cast<size_t>(labels - data);

  const std::string folder = fresh_folder("idx");
  const std::string images_path =
      put(folder, "images-idx3-ubyte", images, images_size, flags & kGzipImages, flags & kBareName);
  const std::string labels_path =
      put(folder, "labels-idx1-ubyte", labels, labels_size, flags & kGzipLabels, flags & kBareName);
  return read_or_refuse(folder, [&] { (void)load_idx(images_path, labels_path); });
}

}  // namespace lowbit::fuzz
