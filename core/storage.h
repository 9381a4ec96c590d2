// Storage: a 64-byte aligned float buffer drawn from a size-keyed pool.
// First-touch page faults cost 11-16 us per 4 KiB page here, so buffers released by one
// training step are handed to the next step instead of going back to the OS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace lowbit {

class Storage {
 public:
  // Uninitialized buffer of n floats (reused memory when the pool has one of that size).
  explicit Storage(size_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_;
  size_t size_;
};

// Statistics and control of the buffer pool (for tests and benchmarks).
struct BufferPoolStats {
  size_t cached_bytes = 0;         // bytes held for reuse
  uint64_t fresh_allocations = 0;  // buffers that had to come from the OS
  uint64_t reused_allocations = 0;
};
BufferPoolStats buffer_pool_stats();
// Returns every cached buffer to the OS.
void buffer_pool_clear();

}  // namespace lowbit
