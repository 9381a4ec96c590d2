// Thread-count control for OpenMP loops and OpenBLAS.
#include "core/parallel.h"

#include <cblas.h>

#include <thread>

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

}  // namespace

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  openblas_set_num_threads(1);
  thread_count() = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int num_threads() { return thread_count(); }

const char* blas_core_name() { return openblas_get_corename(); }

}  // namespace lowbit
