// SVHN .mat reader: checks X and y with Mat_VarReadInfo before reading their data, then
// transposes MATLAB's X(row, column, channel, n) (first index fastest) into NCHW.
#include "data/svhn.h"

#include <matio.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/check.h"
#include "core/input_file.h"
#include "data/mat5_file.h"

namespace lowbit {
namespace {

constexpr int64_t kSide = 32, kChannels = 3;

struct MatCloser {
  void operator()(mat_t* mat) const { Mat_Close(mat); }
};
struct VarFreer {
  void operator()(matvar_t* var) const { Mat_VarFree(var); }
};
using MatFile = std::unique_ptr<mat_t, MatCloser>;
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

std::string dims_string(const matvar_t* var) {
  std::string s = "(";
  for (int i = 0; i < var->rank; ++i) s += (i ? ", " : "") + std::to_string(var->dims[i]);
  return s + ")";
}

bool is_real_numeric(const matvar_t* var) {
  return var->class_type >= MAT_C_DOUBLE && var->class_type <= MAT_C_UINT64 && !var->isComplex;
}

// Element i of a real numeric variable as a double (matio stores data in its class's type).
double element(const matvar_t* var, size_t i) {
  const void* p = var->data;
  switch (var->class_type) {
    case MAT_C_DOUBLE:
      return static_cast<const double*>(p)[i];
    case MAT_C_SINGLE:
      return static_cast<const float*>(p)[i];
    case MAT_C_INT8:
      return static_cast<const int8_t*>(p)[i];
    case MAT_C_UINT8:
      return static_cast<const uint8_t*>(p)[i];
    case MAT_C_INT16:
      return static_cast<const int16_t*>(p)[i];
    case MAT_C_UINT16:
      return static_cast<const uint16_t*>(p)[i];
    case MAT_C_INT32:
      return static_cast<const int32_t*>(p)[i];
    case MAT_C_UINT32:
      return static_cast<const uint32_t*>(p)[i];
    case MAT_C_INT64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case MAT_C_UINT64:
      return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    default:
      return std::nan("");
  }
}

// The header of `name` (dims, class) without its data; error when it is absent.
MatVar read_info(mat_t* mat, const std::string& path, const char* name) {
  MatVar var(Mat_VarReadInfo(mat, name));
  LOWBIT_CHECK(
      var != nullptr, path, ": no variable '", name,
      "', expected X (uint8 32x32x3xN) and y (Nx1 labels 1..10) as in the official SVHN files");
  return var;
}

// Reads the data of a variable whose header was checked; error when it is short, and before
// anything is allocated when its dims declare more bytes than the file can hold (stored as they
// are, or compressed: kMaxDeflateRatio times).
void read_data(mat_t* mat, matvar_t* var, const std::string& path, const char* name,
               uint64_t images, uint64_t bytes_per_image, size_t element_bytes,
               uint64_t file_size) {
  const bool compressed = var->compression != MAT_COMPRESSION_NONE;
  const uint64_t can_hold = compressed ? kMaxDeflateRatio * file_size : file_size;
  LOWBIT_CHECK(images <= can_hold / bytes_per_image, path, ": ", name, " has dims ",
               dims_string(var), ", ", images, " x ", bytes_per_image, " bytes: more than the ",
               file_size, " bytes of the file can hold", compressed ? " compressed" : "",
               " (truncated or corrupt file)");
  const size_t expected = static_cast<size_t>(Mat_VarGetSize(var));
  const int status = Mat_VarReadDataAll(mat, var);
  LOWBIT_CHECK(status == 0 && var->data != nullptr && var->nbytes >= expected &&
                   var->data_size == int(element_bytes),
               path, ": cannot read the data of '", name, "' (", expected,
               " bytes expected; truncated or corrupt file)");
}

}  // namespace

Dataset load_svhn_mat(const std::string& path) {
  // A directory, a FIFO or a device is refused by name before matio opens it.
  const uint64_t file_size = regular_file_size(path, "an SVHN .mat file");
  check_mat5_file(path, file_size);
  MatFile mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  LOWBIT_CHECK(mat != nullptr, path,
               ": cannot open as a MATLAB .mat file (expected the official SVHN format)");

  MatVar x = read_info(mat.get(), path, "X");
  LOWBIT_CHECK(x->class_type == MAT_C_UINT8 && !x->isComplex, path, ": X is ",
               x->isComplex ? "complex " : "", mat_class_name(x->class_type), ", expected uint8");
  // MATLAB drops trailing singleton dimensions: one image is saved as (32, 32, 3).
  LOWBIT_CHECK((x->rank == 4 || x->rank == 3) && x->dims[0] == kSide && x->dims[1] == kSide &&
                   x->dims[2] == kChannels && (x->rank == 3 || x->dims[3] > 0),
               path, ": X has dims ", dims_string(x.get()), ", expected (32, 32, 3, N) with N > 0");
  const size_t n = x->rank == 4 ? x->dims[3] : 1;

  MatVar y = read_info(mat.get(), path, "y");
  LOWBIT_CHECK(is_real_numeric(y.get()), path, ": y is ", y->isComplex ? "complex " : "",
               mat_class_name(y->class_type),
               ", expected real numeric labels (double in the official files)");
  LOWBIT_CHECK(y->rank == 2 &&
                   ((y->dims[0] == n && y->dims[1] == 1) || (y->dims[0] == 1 && y->dims[1] == n)),
               path, ": y has dims ", dims_string(y.get()), ", expected (", n, ", 1) to match X's ",
               n, " images");

  // matio's own read of the data (Mat_VarRead) would re-parse the header; read into the checked
  // ones.
  const size_t label_bytes = Mat_SizeOfClass(y->class_type);
  read_data(mat.get(), y.get(), path, "y", n, label_bytes, label_bytes, file_size);
  read_data(mat.get(), x.get(), path, "X", n, kChannels * kSide * kSide, 1, file_size);

  Dataset d;
  d.name = "svhn";
  d.channels = kChannels;
  d.height = kSide;
  d.width = kSide;
  d.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double label = element(y.get(), i);
    LOWBIT_CHECK(label >= 1 && label <= 10 && label == std::floor(label), path, ": label ", label,
                 " at index ", i, " is outside 1..10 (10 stands for the digit 0)");
    d.labels[i] = label == 10 ? 0 : static_cast<int32_t>(label);
  }
  // X(r, c, ch, i) sits at r + 32 c + 1024 ch + 3072 i; NCHW wants i, ch, r, c.
  const uint8_t* src = static_cast<const uint8_t*>(x->data);
  const int64_t plane = kSide * kSide, image = kChannels * plane;
  d.pixels.resize(n * image);
  for (size_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < kChannels; ++ch) {
      const uint8_t* from = src + i * image + ch * plane;
      uint8_t* to = d.pixels.data() + i * image + ch * plane;
      for (int64_t r = 0; r < kSide; ++r)
        for (int64_t c = 0; c < kSide; ++c) to[r * kSide + c] = from[r + kSide * c];
    }
  for (int k = 0; k < 10; ++k) d.class_names.push_back(std::to_string(k));
  return d;
}

}  // namespace lowbit
