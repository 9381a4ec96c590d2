// Per-thread scratch buffers that live as long as their thread: kernels reuse them from
// call to call, so a training loop pays the first-touch page faults only once.
#pragma once

#include <cstddef>
#include <vector>

namespace lowbit::kernels {

// The buffers a kernel may hold at the same time, one per slot, named for what the convolution
// kernels keep there; a buffer lives in one slot for as long as it is in use, so two buffers a
// kernel needs at once must be in different slots.
enum class ScratchSlot : int {
  kColumns = 0,   // im2col columns (conv2d); input tiles V (Winograd)
  kProducts = 1,  // GEMM outputs before they are scattered (conv2d); products M, D (Winograd)
  kStaging = 2,   // partial weight gradients (conv2d); tap rows, tile staging (Winograd)
  kWide = 3,      // zero-padded input (conv2d, depthwise); weights U, dW sums (Winograd)
};
constexpr int kScratchSlots = 4;

// A buffer of at least n floats for this thread in `slot`. The contents are unspecified.
inline float* thread_scratch(ScratchSlot slot, size_t n) {
  thread_local std::vector<float> buffers[kScratchSlots];
  std::vector<float>& b = buffers[static_cast<int>(slot)];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace lowbit::kernels
