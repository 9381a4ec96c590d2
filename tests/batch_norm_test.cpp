// batch_norm: normalized values, running statistics with momentum, eval mode and its rounding,
// errors; synchronized over 3 ranks (this program under mpirun), the whole batch's batch norm.
#include "layers/batch_norm.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/elementwise.h"
#include "layers/reduce.h"
#include "tests/mpi_runs.h"

using namespace lowbit;
using namespace lowbit::testing;

TEST_CASE("training normalizes each channel with batch statistics", "[batch_norm]") {
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25); channel 1 holds 10 x 4... (2, 2, 1, 2)
  // layout.
  Tensor x = Tensor::from_vector({2, 2, 1, 2}, {1, 2, 10, 10, 3, 4, 10, 14});
  BatchNorm bn(2);
  bn.weight().fill(2.0f);
  bn.bias().fill(1.0f);
  const auto y = bn(x).to_vector();
  const float is0 = 1.0f / std::sqrt(1.25f + 1e-5f);
  CHECK(y[0] == Approx(1 + 2 * (1 - 2.5f) * is0));
  CHECK(y[5] == Approx(1 + 2 * (4 - 2.5f) * is0));
  // running stats after one step: 0.9 * 0 + 0.1 * mean; 0.9 * 1 + 0.1 * unbiased var
  CHECK(bn.running_mean().to_vector()[0] == Approx(0.25f));
  CHECK(bn.running_var().to_vector()[0] == Approx(0.9f + 0.1f * (5.0f / 3.0f)));
  CHECK(bn.running_mean().to_vector()[1] == Approx(0.1f * 11.0f));
  bn(x);
  CHECK(bn.running_mean().to_vector()[0] == Approx(0.9f * 0.25f + 0.25f));
}

TEST_CASE("eval uses the running statistics and (N, C) inputs work", "[batch_norm]") {
  BatchNorm bn(3);
  bn.running_mean().copy_from(Tensor::from_vector({3}, {1, 2, 3}));
  bn.running_var().copy_from(Tensor::from_vector({3}, {4, 1, 0.25f}));
  bn.eval();
  const auto y = bn(Tensor::from_vector({1, 3}, {3, 2, 4})).to_vector();
  CHECK(y[0] == Approx(2 / std::sqrt(4 + 1e-5f)));
  CHECK(y[1] == Approx(0.0f));
  CHECK(y[2] == Approx(1 / std::sqrt(0.25f + 1e-5f)));
  CHECK(bn.running_mean().to_vector() == std::vector<float>{1, 2, 3});
}

TEST_CASE("batch_norm errors", "[batch_norm]") {
  BatchNorm bn(3);
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 4})), Catch::Contains("(4,)") || Catch::Contains("(3,)"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 3, 4})), Catch::Contains("(2, 3, 4)"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({1, 3})), Catch::Contains("more than one value"));
  CHECK_THROWS_AS(BatchNorm(0), Error);
}

TEST_CASE("eval rounds x * scale and then + shift, as ONNX Runtime's BatchNormalization does",
          "[batch_norm]") {
  // scale = gamma / sqrt(var + eps) and shift = beta - mean * scale, each operation rounded to
  // float once, then y = x * scale rounded, plus shift rounded: a fused multiply-add would round
  // once and differ in the last bit for some x, moving values across a quantizer's threshold.
  BatchNorm bn(1);
  bn.weight().fill(0.7f);
  bn.bias().fill(0.3f);
  bn.running_mean().fill(0.1f);
  bn.running_var().fill(2.0f);
  bn.eval();
  const float inv_std = 1.0f / std::sqrt(2.0f + 1e-5f);
  const float scale = 0.7f * inv_std;
  const volatile float mean_times_scale = 0.1f * scale;
  const float shift = 0.3f - mean_times_scale;
  Rng rng(5);
  std::vector<float> xs(4096);
  for (float& v : xs) v = rng.uniform(-3.0f, 3.0f);
  const std::vector<float> y = bn(Tensor::from_vector({4096, 1}, xs)).to_vector();
  int64_t fused_differs = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    // volatile: the test itself is built with -march=native, which would fuse its reference.
    const volatile float product = xs[i] * scale;
    const float want = product + shift;
    CHECK(y[i] == want);
    fused_differs += std::fma(xs[i], scale, shift) != want;
  }
  CHECK(fused_differs > 0);  // what the check tells apart
}

TEST_CASE("synchronized batch norm on 3 ranks is batch norm of the whole batch",
          "[mpi][batch_norm]") {
  check_cases_pass_on_ranks(3, "[.][ranks-batch_norm]", "synchronized batch norm on 3 ranks");
}

TEST_CASE("ranks: synchronized batch norm of shards", "[.][ranks-batch_norm]") {
  // The whole batch: 7 images of 2 channels of 3x3, and a weight per output value, so that the
  // loss sum(y * w) sends a different gradient to every value. Rank r holds images
  // [7 r / 3, 7 (r + 1) / 3): 2, 2 and 3 of them.
  Communicator& ranks = world();
  REQUIRE(ranks.size() == 3);
  ranks.set_timeout(60);
  Rng rng(4);
  const Tensor x = Tensor::empty({7, 2, 3, 3}), w = Tensor::empty({7, 2, 3, 3});
  for (int64_t i = 0; i < x.numel(); ++i) {
    x.data()[i] = rng.normal(1.0f, 2.0f);
    w.data()[i] = rng.uniform(-1.0f, 1.0f);
  }
  BatchNorm whole(2);
  whole.weight().copy_from(Tensor::from_vector({2}, {1.5f, 0.5f}));
  const Tensor x_whole = x.clone().set_requires_grad(true);
  const Tensor y_whole = whole(x_whole);
  backward(sum(mul(y_whole, w)));

  const int64_t begin = 7 * ranks.rank() / 3, end = 7 * (ranks.rank() + 1) / 3, per = 18;
  auto rows = [&](const Tensor& t) {
    Tensor part = Tensor::empty({end - begin, 2, 3, 3});
    std::copy(t.data() + begin * per, t.data() + end * per, part.data());
    return part;
  };
  BatchNorm mine(2);
  mine.weight().copy_from(Tensor::from_vector({2}, {1.5f, 0.5f}));
  mine.synchronize(&ranks);
  CHECK(mine.synchronized());
  const Tensor x_mine = rows(x).set_requires_grad(true);
  const Tensor y_mine = mine(x_mine);
  backward(sum(mul(y_mine, rows(w))));

  auto close = [](const Tensor& a, const Tensor& b) {
    REQUIRE(a.numel() == b.numel());
    for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.data()[i] == Approx(b.data()[i]).margin(1e-5));
  };
  close(y_mine, rows(y_whole));
  close(x_mine.grad_tensor(), rows(x_whole.grad_tensor()));
  // The statistics are the whole batch's, alike on every rank.
  close(mine.running_mean(), whole.running_mean());
  close(mine.running_var(), whole.running_var());
  uint32_t bits = 0;
  std::memcpy(&bits, mine.running_var().data() + 1, sizeof bits);
  const std::vector<uint64_t> means = ranks.allgather(bits, "test");
  CHECK(means[0] == means[1]);
  CHECK(means[1] == means[2]);
  // gamma's and beta's gradients are the shard's part: their sum over the ranks is the batch's.
  for (const Tensor* t : {&mine.weight(), &mine.bias()}) {
    std::vector<float> g = t->grad_tensor().to_vector();
    ranks.allreduce_sum(g.data(), 2, "test");
    const Tensor& reference = t == &mine.weight() ? whole.weight() : whole.bias();
    close(Tensor::from_vector({2}, g), reference.grad_tensor());
  }
  // Evaluation uses the running statistics: nothing to synchronize.
  mine.eval();
  whole.eval();
  close(mine(rows(x)), rows(whole(x)));
}
