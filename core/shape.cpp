// Shape: validation, element count and printing.
#include "core/shape.h"

#include <algorithm>
#include <cstdint>

#include "core/check.h"

namespace lowbit {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {
  for (int64_t d : dims_) {
    LOWBIT_CHECK(d >= 0, "shape ", str(), " has a negative dimension; expected sizes >= 0");
  }
  // The count once, without overflow: a zero makes it 0 whatever the other dimensions (a shape
  // read from a file, (2^40, 2^40, 0), overflowed the product taken from the left), and a count
  // beyond int64 is refused.
  if (std::find(dims_.begin(), dims_.end(), 0) != dims_.end()) {
    numel_ = 0;
    return;
  }
  for (int64_t d : dims_) {
    LOWBIT_CHECK(numel_ <= INT64_MAX / d, "shape ", str(),
                 " has more elements than a 64-bit count holds");
    numel_ *= d;
  }
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
