// Storage: alignment and reuse of released buffers by size.
#include "core/storage.h"

#include <catch2/catch.hpp>
#include <cstdint>

using namespace lowbit;

TEST_CASE("storage is 64-byte aligned", "[storage]") {
  Storage s(1001);
  CHECK(reinterpret_cast<uintptr_t>(s.data()) % 64 == 0);
  CHECK(s.size() == 1001);
}

#ifndef LOWBIT_SANITIZE
TEST_CASE("a released buffer is reused for the next request of its size", "[storage]") {
  float* first;
  {
    Storage s(12345);
    first = s.data();
  }
  const auto before = buffer_pool_stats();
  Storage again(12345);
  CHECK(again.data() == first);
  CHECK(buffer_pool_stats().reused_allocations == before.reused_allocations + 1);
  CHECK(buffer_pool_stats().fresh_allocations == before.fresh_allocations);
}
#endif
