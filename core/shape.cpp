// Shape: validation, element count and printing.
#include "core/shape.h"

#include "core/check.h"

namespace lowbit {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {
  for (int64_t d : dims_) {
    LOWBIT_CHECK(d >= 0, "shape ", str(), " has a negative dimension; expected sizes >= 0");
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

int64_t Shape::operator[](int i) const {
  const int r = rank();
  const int k = i < 0 ? i + r : i;
  LOWBIT_CHECK(k >= 0 && k < r, "dimension ", i, " is out of range for shape ", str());
  return dims_[static_cast<size_t>(k)];
}

std::string Shape::str() const {
  std::string s = "(";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  if (dims_.size() == 1) s += ",";
  return s + ")";
}

}  // namespace lowbit
