// MATLAB 5 MAT-files (the official SVHN files' format) checked before libmatio reads them: matio
// trusts the sizes a file declares and allocates them, so a damaged or hostile file is refused here
// first, by name.
#pragma once

#include <cstdint>
#include <string>

namespace lowbit {

// Throws lowbit::Error with one line naming the file unless it is a MATLAB 5 MAT-file (a 128-byte
// header, version 0x0100) whose every data element ends inside the file and is a numeric or char
// array (plain or compressed) with at most 32 dims and a name of at most 255 bytes, each element of
// its header inside it. A MATLAB 4 or 7.3 (HDF5) file, a file cut short, a cell, struct, object or
// sparse array are refused. `size`: the file's size in bytes.
void check_mat5_file(const std::string& path, uint64_t size);

// MATLAB's name of an array class (matio_classes: 0 "empty" .. 17 "opaque"); "unknown" beyond.
const char* mat_class_name(int class_type);

}  // namespace lowbit
