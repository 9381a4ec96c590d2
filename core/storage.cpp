// The buffer pool behind Storage: exact-size free lists under one mutex, capped in bytes.
#include "core/storage.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace lowbit {
namespace {

constexpr size_t kAlignment = 64;
// The sanitizer build frees every buffer at once so that AddressSanitizer sees each
// use-after-free that the pool would otherwise hide.
#ifdef LOWBIT_SANITIZE
constexpr bool kPoolEnabled = false;
#else
constexpr bool kPoolEnabled = true;
#endif
constexpr size_t kMaxCachedBytes = size_t{6} << 30;  // beyond this, released buffers are freed

struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<float*>> free_lists;  // key: element count
  BufferPoolStats stats;
};

Pool& pool() {
  static Pool* instance = new Pool();  // never destroyed: storages may outlive static teardown
  return *instance;
}

size_t padded_bytes(size_t n) {
  const size_t bytes = (n == 0 ? 1 : n) * sizeof(float);
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

}  // namespace

Storage::Storage(size_t n) : data_(nullptr), size_(n) {
  Pool& p = pool();
  if (kPoolEnabled) {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free_lists.find(n);
    if (it != p.free_lists.end() && !it->second.empty()) {
      data_ = it->second.back();
      it->second.pop_back();
      p.stats.cached_bytes -= padded_bytes(n);
      ++p.stats.reused_allocations;
      return;
    }
    ++p.stats.fresh_allocations;
  }
  data_ = static_cast<float*>(std::aligned_alloc(kAlignment, padded_bytes(n)));
  if (!data_) throw std::bad_alloc();
}

Storage::~Storage() {
  Pool& p = pool();
  const size_t bytes = padded_bytes(size_);
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (kPoolEnabled && p.stats.cached_bytes + bytes <= kMaxCachedBytes) {
      p.free_lists[size_].push_back(data_);
      p.stats.cached_bytes += bytes;
      return;
    }
  }
  std::free(data_);
}

BufferPoolStats buffer_pool_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void buffer_pool_clear() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (auto& entry : p.free_lists) {
    for (float* ptr : entry.second) std::free(ptr);
  }
  p.free_lists.clear();
  p.stats.cached_bytes = 0;
}

}  // namespace lowbit
