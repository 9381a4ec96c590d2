// Threading, decided in one place: OpenMP runs the parallel loops (across the batch or
// across elements) and OpenBLAS is always single-threaded, so the two never compete for
// the cores. Each GEMM call site splits its work across OpenMP threads itself.
#pragma once

#include <cstdint>

namespace lowbit {

// Sets the thread count for every parallel loop (and pins OpenBLAS to one thread).
// n <= 0 means one thread per available core: the cores the process is bound to, else the
// machine's shared among the ranks of a data-parallel run that run on it.
void set_num_threads(int n);
int num_threads();
// The cores this process may run on (its affinity mask: all of them unless taskset or mpirun's
// --bind-to restricts it).
int usable_cores();
// The name of the OpenBLAS kernel in use (e.g. "Haswell", "SkylakeX").
const char* blas_core_name();

// Runs body(begin, end) over [0, n) in contiguous chunks of at least `grain` items, one
// chunk per thread at most; serial when n < 2 * grain. Chunks are fixed by n and the
// thread count, so results are reproducible for a given thread count.
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body);

}  // namespace lowbit

#include "core/parallel_impl.h"
