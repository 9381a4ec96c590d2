// Test helper: a scope that gives the thread count back when it ends.
#pragma once

#include "core/parallel.h"

namespace lowbit {

// Puts the thread count back when a test that changed it ends, even through a failed REQUIRE.
struct ThreadCountRestorer {
  int saved = num_threads();
  ~ThreadCountRestorer() { set_num_threads(saved); }
};

}  // namespace lowbit
