// GEMM wrappers: row-major cblas_sgemm and its split across OpenMP threads.
#include "layers/kernels/gemm.h"

#include <cblas.h>

#include "core/parallel.h"

namespace lowbit::kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

void parallel_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc) {
  constexpr int64_t kMinBlock = 32;  // rows or columns per thread worth a separate call
  if (n >= m) {
    parallel_for(n, kMinBlock, [&](int64_t n0, int64_t n1) {
      const float* b_block = trans_b ? b + n0 * ldb : b + n0;
      gemm(trans_a, trans_b, m, n1 - n0, k, alpha, a, lda, b_block, ldb, beta, c + n0, ldc);
    });
  } else {
    parallel_for(m, kMinBlock, [&](int64_t m0, int64_t m1) {
      const float* a_block = trans_a ? a + m0 : a + m0 * lda;
      gemm(trans_a, trans_b, m1 - m0, n, k, alpha, a_block, lda, b, ldb, beta, c + m0 * ldc, ldc);
    });
  }
}

}  // namespace lowbit::kernels
