// Image-folder data sets: ROOT/<class>/<image> decoded with stb_image, in parallel, into one
// uint8 NCHW Dataset whose labels are the sorted class folder names.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace lowbit {

// ROOT/<class>/*.{png,jpg,jpeg,bmp} (extensions case-insensitive; other files and hidden
// folders are ignored). Sorted class folder names give labels 0..K-1 and class_names;
// files are sorted by name within a class. Every image is decoded to `channels` (1-4;
// stb converts grey <-> RGB) and must have the size of the first one; expected_side > 0
// additionally requires expected_side x expected_side. The result does not depend on the
// thread count. No class folder, an empty class folder, an undecodable (named by the format
// its signature announces), truncated or wrong-size image, a side above 8192, an image name on
// something that is not a regular file: lowbit::Error with one line naming the folder or file.
// Every image's header is checked before the pixel buffer is allocated.
Dataset load_image_folder(const std::string& root, int64_t channels, int64_t expected_side = 0);

}  // namespace lowbit
