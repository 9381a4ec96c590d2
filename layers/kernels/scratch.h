// Per-thread scratch buffers that live as long as their thread: kernels reuse them from
// call to call, so a training loop pays the first-touch page faults only once.
#pragma once

#include <cstddef>
#include <vector>

namespace lowbit::kernels {

// A buffer of at least n floats for this thread; `slot` separates buffers a kernel needs
// at the same time (0..3). The contents are unspecified.
inline float* thread_scratch(int slot, size_t n) {
  thread_local std::vector<float> buffers[4];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace lowbit::kernels
