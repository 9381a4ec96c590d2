// Shape: the dimensions of a tensor, outermost first (NCHW for images).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace lowbit {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::vector<int64_t> dims);

  int64_t numel() const { return numel_; }
  int rank() const { return static_cast<int>(dims_.size()); }
  // Negative indices count from the end, as in Python.
  int64_t operator[](int i) const;
  const std::vector<int64_t>& dims() const { return dims_; }
  std::string str() const;  // "(2, 3, 4)"

  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  bool operator!=(const Shape& other) const { return dims_ != other.dims_; }

 private:
  std::vector<int64_t> dims_;
  int64_t numel_ = 1;  // the product of dims_, computed once by the constructor
};

}  // namespace lowbit
