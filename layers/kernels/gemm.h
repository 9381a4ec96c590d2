// GEMM on row-major matrices through OpenBLAS (kept single-threaded, see core/parallel.h).
//   C (M x N) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C
#pragma once

#include <cstdint>

namespace lowbit::kernels {

// One single-threaded cblas_sgemm call.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The same product with C's rows or columns (whichever are more) split across the
// OpenMP threads, each block one single-threaded sgemm call.
void parallel_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc);

}  // namespace lowbit::kernels
