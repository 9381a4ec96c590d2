// Thread-count control for OpenMP loops and OpenBLAS.
#include "core/parallel.h"

#include <cblas.h>
#include <sched.h>

#include <algorithm>
#include <thread>

#include "core/distributed/communicator.h"

namespace lowbit {
namespace {

int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int& thread_count() {
  static int count = [] {
    openblas_set_num_threads(1);
    return default_threads();
  }();
  return count;
}

int machine_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int default_thread_count() {
  const int cores = machine_cores(), usable = usable_cores();
  // Bound to some of the cores (taskset, or mpirun's --bind-to): those are this process's.
  if (usable < cores) return usable;
  // Else the ranks of a data-parallel run on this machine share its cores.
  return std::max(1, cores / world().local_size());
}

}  // namespace

void set_num_threads(int n) {
  if (n <= 0) n = default_thread_count();
  openblas_set_num_threads(1);
  thread_count() = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int num_threads() { return thread_count(); }

int usable_cores() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const int usable = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : 0;
  return usable > 0 ? usable : machine_cores();
}

const char* blas_core_name() { return openblas_get_corename(); }

}  // namespace lowbit
