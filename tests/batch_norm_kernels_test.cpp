// The batch norm kernels against a double-precision reference: the training forward (batch
// statistics, running statistics with momentum), the eval forward, and the backward's dx
// (added and overwritten), dgamma and dbeta, with and without gamma, on 1 and 2 threads.
#include "layers/kernels/batch_norm_kernels.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"
#include "tests/thread_count.h"

using namespace lowbit;
using kernels::BatchNormLayout;

namespace {

std::vector<float> uniform_vector(size_t n, Rng& rng, float low, float high) {
  std::vector<float> v(n);
  for (float& f : v) f = rng.uniform(low, high);
  return v;
}

size_t at(const BatchNormLayout& L, int64_t b, int64_t c, int64_t i) {
  return static_cast<size_t>((b * L.c + c) * L.inner + i);
}

// The batch mean and biased variance of channel c.
void reference_statistics(const BatchNormLayout& L, const std::vector<float>& x, int64_t c,
                          double& mean, double& var) {
  const double m = static_cast<double>(L.n * L.inner);
  double s = 0.0, s2 = 0.0;
  for (int64_t b = 0; b < L.n; ++b)
    for (int64_t i = 0; i < L.inner; ++i) s += x[at(L, b, c, i)];
  mean = s / m;
  for (int64_t b = 0; b < L.n; ++b)
    for (int64_t i = 0; i < L.inner; ++i)
      s2 += (x[at(L, b, c, i)] - mean) * (x[at(L, b, c, i)] - mean);
  var = s2 / m;
}

}  // namespace

TEST_CASE(
    "batch_norm_forward: batch statistics, running statistics and y against a double reference",
    "[batch_norm_kernels]") {
  ThreadCountRestorer restore;
  Rng rng(3);
  const BatchNormLayout L{3, 5, 37};  // 37: lanes of 16 and a tail
  const float momentum = 0.1f, eps = 1e-5f;
  const auto x = uniform_vector(static_cast<size_t>(L.n * L.c * L.inner), rng, -2.0f, 3.0f);
  const auto gamma = uniform_vector(5, rng, 0.5f, 1.5f), beta = uniform_vector(5, rng, -1.0f, 1.0f);
  for (int threads : {1, 2}) {
    INFO(threads << " threads");
    set_num_threads(threads);
    std::vector<float> rm(5, 0.5f), rv(5, 2.0f), mean(5), invstd(5), y(x.size());
    kernels::batch_norm_forward(L, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), true,
                                momentum, eps, mean.data(), invstd.data(), y.data());
    const double m = static_cast<double>(L.n * L.inner);
    for (int64_t c = 0; c < L.c; ++c) {
      double mu, var;
      reference_statistics(L, x, c, mu, var);
      const double is = 1.0 / std::sqrt(var + eps);
      CHECK(mean[c] == Approx(mu).margin(1e-6));
      CHECK(invstd[c] == Approx(is).epsilon(1e-5));
      CHECK(rm[c] == Approx(0.9 * 0.5 + 0.1 * mu).epsilon(1e-5));
      CHECK(rv[c] == Approx(0.9 * 2.0 + 0.1 * var * m / (m - 1)).epsilon(1e-5));
      for (int64_t b = 0; b < L.n; ++b)
        for (int64_t i = 0; i < L.inner; ++i)
          CHECK(y[at(L, b, c, i)] ==
                Approx(gamma[c] * (x[at(L, b, c, i)] - mu) * is + beta[c]).margin(1e-5));
    }
  }
}

TEST_CASE(
    "batch_norm_forward: eval uses the running statistics and leaves them alone, with null gamma "
    "and beta",
    "[batch_norm_kernels]") {
  const BatchNormLayout L{2, 2, 3};
  const std::vector<float> x{1, 2, 3, -1, 0, 1, 4, 5, 6, 2, 2, 2};
  std::vector<float> rm{1.0f, -2.0f}, rv{4.0f, 0.25f}, mean(2), invstd(2), y(x.size());
  kernels::batch_norm_forward(L, x.data(), nullptr, nullptr, rm.data(), rv.data(), false, 0.1f,
                              0.0f, mean.data(), invstd.data(), y.data());
  CHECK(rm == std::vector<float>{1.0f, -2.0f});
  CHECK(rv == std::vector<float>{4.0f, 0.25f});
  CHECK(mean == std::vector<float>{1.0f, -2.0f});
  CHECK(invstd == std::vector<float>{0.5f, 2.0f});
  CHECK(y ==
        std::vector<float>{0.0f, 0.5f, 1.0f, 2.0f, 4.0f, 6.0f, 1.5f, 2.0f, 2.5f, 8.0f, 8.0f, 8.0f});
}

TEST_CASE(
    "batch_norm_backward: dx, dgamma and dbeta against a double reference, added and overwritten",
    "[batch_norm_kernels]") {
  ThreadCountRestorer restore;
  Rng rng(5);
  const BatchNormLayout L{4, 3, 21};
  const auto x = uniform_vector(static_cast<size_t>(L.n * L.c * L.inner), rng, -2.0f, 2.0f);
  const auto dy = uniform_vector(x.size(), rng, -1.0f, 1.0f);
  const auto gamma = uniform_vector(3, rng, 0.5f, 1.5f);
  const std::vector<float> running_mean{0.2f, -0.1f, 0.0f}, running_invstd{1.5f, 0.8f, 1.0f};
  for (bool training : {true, false}) {
    for (bool with_gamma : {true, false}) {
      INFO((training ? "training" : "eval") << (with_gamma ? ", gamma" : ", no gamma"));
      std::vector<float> mean(3), invstd(3);
      for (int64_t c = 0; c < L.c; ++c) {
        double mu, var;
        reference_statistics(L, x, c, mu, var);
        mean[c] = training ? static_cast<float>(mu) : running_mean[c];
        invstd[c] = training ? static_cast<float>(1.0 / std::sqrt(var + 1e-5)) : running_invstd[c];
      }
      // The reference gradients, from the statistics the kernel is handed.
      const double m = static_cast<double>(L.n * L.inner);
      std::vector<double> dx_ref(x.size()), dgamma_ref(3, 0.0), dbeta_ref(3, 0.0);
      for (int64_t c = 0; c < L.c; ++c) {
        for (int64_t b = 0; b < L.n; ++b)
          for (int64_t i = 0; i < L.inner; ++i) {
            dbeta_ref[c] += dy[at(L, b, c, i)];
            dgamma_ref[c] += dy[at(L, b, c, i)] * (x[at(L, b, c, i)] - mean[c]) * invstd[c];
          }
        const double g = (with_gamma ? gamma[c] : 1.0) * invstd[c];
        for (int64_t b = 0; b < L.n; ++b)
          for (int64_t i = 0; i < L.inner; ++i) {
            const size_t e = at(L, b, c, i);
            const double xhat = (x[e] - mean[c]) * invstd[c];
            dx_ref[e] =
                training ? g / m * (m * dy[e] - dbeta_ref[c] - xhat * dgamma_ref[c]) : g * dy[e];
          }
      }
      for (int threads : {1, 2}) {
        INFO(threads << " threads");
        set_num_threads(threads);
        for (bool overwrite : {true, false}) {
          INFO((overwrite ? "overwrite" : "add"));
          const float start =
              overwrite ? std::nanf("") : 0.25f;  // an overwritten dx may hold anything
          std::vector<float> dx(x.size(), start), dgamma(3, 1.0f), dbeta(3, -1.0f);
          kernels::batch_norm_backward(L, x.data(), dy.data(), with_gamma ? gamma.data() : nullptr,
                                       mean.data(), invstd.data(), training, dx.data(), overwrite,
                                       dgamma.data(), dbeta.data());
          for (size_t e = 0; e < x.size(); ++e)
            CHECK(dx[e] == Approx(dx_ref[e] + (overwrite ? 0.0 : 0.25)).margin(1e-5));
          for (int64_t c = 0; c < L.c; ++c) {
            CHECK(dgamma[c] == Approx(1.0 + dgamma_ref[c]).margin(1e-5));
            CHECK(dbeta[c] == Approx(-1.0 + dbeta_ref[c]).margin(1e-5));
          }
        }
      }
      // Only the parameter gradients (dx null), and only dx (both sums null).
      std::vector<float> dgamma(3, 0.0f), dx(x.size(), 0.0f);
      kernels::batch_norm_backward(L, x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(),
                                   training, nullptr, false, dgamma.data(), nullptr);
      for (int64_t c = 0; c < L.c; ++c) CHECK(dgamma[c] == Approx(dgamma_ref[c]).margin(1e-5));
      kernels::batch_norm_backward(L, x.data(), dy.data(), with_gamma ? gamma.data() : nullptr,
                                   mean.data(), invstd.data(), training, dx.data(), false, nullptr,
                                   nullptr);
      for (size_t e = 0; e < x.size(); ++e) CHECK(dx[e] == Approx(dx_ref[e]).margin(1e-5));
    }
  }
}

TEST_CASE("the passes of synchronized batch norm compute exactly what the one-pass kernels do",
          "[batch_norm_kernels]") {
  // One process holding the whole batch: sums, centered sums and normalization, then gradient
  // sums and dx, each in its own pass, give the same bits as batch_norm_forward / _backward.
  Rng rng(8);
  const BatchNormLayout L{4, 3, 21};
  const auto x = uniform_vector(static_cast<size_t>(L.n * L.c * L.inner), rng, -2.0f, 3.0f);
  const auto dy = uniform_vector(x.size(), rng, -1.0f, 1.0f);
  const auto gamma = uniform_vector(3, rng, 0.5f, 1.5f), beta = uniform_vector(3, rng, -1.0f, 1.0f);
  const int64_t m = L.n * L.inner;
  std::vector<float> rm(3, 0.5f), rv(3, 2.0f), mean(3), invstd(3), y(x.size());
  kernels::batch_norm_forward(L, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), true,
                              0.1f, 1e-5f, mean.data(), invstd.data(), y.data());
  std::vector<double> sums(3), centered(3);
  std::vector<float> rm2(3, 0.5f), rv2(3, 2.0f), mean2(3), invstd2(3), y2(x.size());
  kernels::batch_norm_sums(L, x.data(), sums.data());
  for (size_t c = 0; c < 3; ++c) mean2[c] = static_cast<float>(sums[c] / static_cast<double>(m));
  kernels::batch_norm_centered_sums(L, x.data(), mean2.data(), centered.data());
  kernels::batch_norm_normalize(L, x.data(), gamma.data(), beta.data(), centered.data(), m,
                                rm2.data(), rv2.data(), 0.1f, 1e-5f, mean2.data(), invstd2.data(),
                                y2.data());
  CHECK(mean2 == mean);
  CHECK(invstd2 == invstd);
  CHECK(rm2 == rm);
  CHECK(rv2 == rv);
  CHECK(y2 == y);

  std::vector<float> dx(x.size()), dgamma(3, 0.25f), dbeta(3, -0.5f);
  kernels::batch_norm_backward(L, x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(),
                               true, dx.data(), true, dgamma.data(), dbeta.data());
  std::vector<double> gradient_sums(6);
  std::vector<float> dx2(x.size()), dgamma2(3, 0.25f), dbeta2(3, -0.5f);
  kernels::batch_norm_gradient_sums(L, x.data(), dy.data(), mean.data(), invstd.data(),
                                    gradient_sums.data(), dgamma2.data(), dbeta2.data());
  kernels::batch_norm_backward_from_sums(L, x.data(), dy.data(), gamma.data(), mean.data(),
                                         invstd.data(), gradient_sums.data(), m, dx2.data(), true);
  CHECK(dx2 == dx);
  CHECK(dgamma2 == dgamma);
  CHECK(dbeta2 == dbeta);
}
