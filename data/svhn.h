// SVHN cropped digits in the official MATLAB files (train_32x32.mat, test_32x32.mat), read
// with libmatio and turned into a uint8 NCHW Dataset with labels 0-9.
#pragma once

#include <string>

#include "data/dataset.h"

namespace lowbit {

// X: uint8 (32, 32, 3, N) in MATLAB's column-major order, X(row, column, channel, n);
// y: (N, 1) labels 1..10 (double in the official files; any real numeric class is read),
// where 10 stands for the digit 0. Returns N images (3, 32, 32) with label 10 -> 0 and
// class names "0".."9". A file that is not MATLAB 5 or whose structure matio would read blindly
// (data/mat5_file.h, checked before matio opens it), a missing variable, a wrong type or shape,
// dims that declare more than the file can hold (checked before the data is read), a label outside
// 1..10, or a path that is not a regular file: lowbit::Error with one line naming the file.
Dataset load_svhn_mat(const std::string& path);

}  // namespace lowbit
