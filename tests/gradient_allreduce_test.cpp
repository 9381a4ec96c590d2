// GradientAllreduce: in one process it is backward() (and autograd tells each leaf when its
// gradient is final); on 3 ranks (this program under mpirun, its "[.][ranks-gradient_allreduce]"
// cases) each rank's shard of a batch, its loss weighted by its share, gives after the sum the
// gradient one process computes on the whole batch, in any bucket size, with or without overlap; a
// parameter that had a gradient on any rank gets the sum, one that had none anywhere stays without.
#include "core/distributed/gradient_allreduce.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/rng.h"
#include "layers/elementwise.h"
#include "layers/linear.h"
#include "layers/losses.h"
#include "layers/reduce.h"
#include "layers/sequential.h"
#include "tests/mpi_runs.h"

using namespace lowbit;
using namespace lowbit::testing;

namespace {

// Two linear layers and a spare parameter that no forward pass reads.
struct Net {
  std::shared_ptr<Sequential> layers = std::make_shared<Sequential>();
  Tensor spare = Tensor::zeros({3}).set_requires_grad(true);
  explicit Net(uint64_t seed) {
    Rng rng(seed);
    layers->add(std::make_shared<Linear>(6, 8, true, rng))
        .add(std::make_shared<Linear>(8, 5, true, rng));
  }
  std::vector<Parameter> parameters() const {
    std::vector<Parameter> p = layers->parameters();
    p.push_back({"spare", ParamRole::kBias, spare});
    return p;
  }
};

// Ten samples of six features and their labels, the same on every rank.
struct Data {
  Tensor x = Tensor::empty({10, 6});
  std::vector<int32_t> labels;
  Data() {
    Rng rng(5);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
    for (int i = 0; i < 10; ++i) labels.push_back(static_cast<int32_t>(rng.below(5)));
  }
  // Rows [begin, end).
  std::pair<Tensor, std::vector<int32_t>> rows(int64_t begin, int64_t end) const {
    Tensor part = Tensor::empty({end - begin, 6});
    std::copy(x.data() + begin * 6, x.data() + end * 6, part.data());
    return {part, std::vector<int32_t>(labels.begin() + begin, labels.begin() + end)};
  }
};

}  // namespace

TEST_CASE("backward() tells each leaf when its gradient is final", "[gradient_allreduce]") {
  // y = w1 * x, z = y * w2 + w1: w2 is final after the last node, w1 only after the first.
  const Tensor x = Tensor::from_vector({2}, {1, 2});
  const Tensor w1 = Tensor::from_vector({2}, {3, 4}).set_requires_grad(true);
  const Tensor w2 = Tensor::from_vector({2}, {5, 6}).set_requires_grad(true);
  const Tensor loss = sum(add(mul(mul(w1, x), w2), w1));
  std::vector<std::pair<const TensorImpl*, std::vector<float>>> ready;
  backward(loss, Tensor(), [&](const Tensor& leaf) {
    ready.push_back({leaf.impl(), std::vector<float>(leaf.grad(), leaf.grad() + 2)});
  });
  REQUIRE(ready.size() == 2);
  CHECK(ready[0].first == w2.impl());  // read by the last op before the sum
  CHECK(ready[0].second == std::vector<float>{3, 8});
  CHECK(ready[1].first == w1.impl());
  CHECK(ready[1].second == std::vector<float>{6, 13});  // x w2 + 1: both reads counted
}

TEST_CASE("in one process GradientAllreduce is backward()", "[gradient_allreduce]") {
  const Data data;
  Net a(1), b(1);
  GradientAllreduceOptions options;
  options.bucket_bytes = 64;  // a bucket per parameter or so
  options.extras = 2;
  GradientAllreduce reducer(a.parameters(), world(), options);
  CHECK(reducer.bucket_count() == 2);  // each at least 64 bytes, in reverse order
  float extras[2] = {4, 5};
  reducer.backward(cross_entropy((*a.layers)(data.x), data.labels), extras);
  backward(cross_entropy((*b.layers)(data.x), data.labels));
  CHECK(extras[0] == 4);  // left as they are
  const std::vector<Parameter> pa = a.parameters(), pb = b.parameters();
  for (size_t k = 0; k + 1 < pa.size(); ++k)
    CHECK(pa[k].tensor.grad_tensor().to_vector() == pb[k].tensor.grad_tensor().to_vector());
  CHECK_FALSE(a.spare.has_grad());
}

TEST_CASE("GradientAllreduce sums gradients over 3 ranks", "[mpi][gradient_allreduce]") {
  check_cases_pass_on_ranks(3, "[.][ranks-gradient_allreduce]",
                            "the gradient all-reduce on 3 ranks");
}

// ---- the cases mpirun runs on every rank ----

TEST_CASE("ranks: shard gradients summed are the whole batch's", "[.][ranks-gradient_allreduce]") {
  Communicator& ranks = world();
  REQUIRE(ranks.size() == 3);
  ranks.set_timeout(60);
  const Data data;
  // One process on the whole batch.
  Net whole(7);
  backward(cross_entropy((*whole.layers)(data.x), data.labels));
  // This rank's shard: rows [10 r / 3, 10 (r + 1) / 3), its mean loss times its share n_r / 10.
  const int64_t begin = 10 * ranks.rank() / 3, end = 10 * (ranks.rank() + 1) / 3;
  const auto [x, labels] = data.rows(begin, end);
  for (int64_t bucket_bytes : {int64_t{48}, int64_t{400}, kDefaultBucketBytes}) {
    for (bool overlap : {true, false}) {
      INFO("buckets of " << bucket_bytes << " bytes, overlap " << overlap);
      Net mine(7);
      // A parameter that only rank 0's graph reads: every rank gets rank 0's gradient.
      const Tensor rank0_only = Tensor::zeros({2}).set_requires_grad(true);
      std::vector<Parameter> params = mine.parameters();
      params.push_back({"rank0_only", ParamRole::kBias, rank0_only});
      GradientAllreduceOptions options;
      options.bucket_bytes = bucket_bytes;
      options.overlap = overlap;
      options.extras = 2;
      GradientAllreduce reducer(params, ranks, options);
      Tensor loss = mul_scalar(cross_entropy((*mine.layers)(x), labels),
                               static_cast<float>(end - begin) / 10.0f);
      if (ranks.rank() == 0) loss = add(loss, mul_scalar(sum(rank0_only), 0.25f));
      float extras[2] = {static_cast<float>(end - begin), static_cast<float>(ranks.rank())};
      reducer.backward(loss, extras);
      CHECK(extras[0] == 10.0f);
      CHECK(extras[1] == 3.0f);
      const std::vector<Parameter> got = mine.parameters(), want = whole.parameters();
      for (size_t k = 0; k + 1 < got.size(); ++k) {
        const std::vector<float> g = got[k].tensor.grad_tensor().to_vector(),
                                 w = want[k].tensor.grad_tensor().to_vector();
        for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == Approx(w[i]).margin(1e-6));
      }
      CHECK_FALSE(mine.spare.has_grad());  // no rank had one
      REQUIRE(rank0_only.has_grad());
      CHECK(rank0_only.grad_tensor().to_vector() == std::vector<float>{0.25f, 0.25f});
    }
  }
}

TEST_CASE("ranks: a rank without images adds zeros", "[.][ranks-gradient_allreduce]") {
  Communicator& ranks = world();
  const Data data;
  Net whole(3), mine(3);
  backward(cross_entropy((*whole.layers)(data.x), data.labels));
  // Rank 2 has no images of this batch: ranks 0 and 1 share it.
  const int64_t begin = ranks.rank() == 0 ? 0 : 5, end = ranks.rank() == 0 ? 5 : 10;
  GradientAllreduce reducer(mine.parameters(), ranks);
  if (ranks.rank() == 2) {
    reducer.backward(Tensor());
  } else {
    const auto [x, labels] = data.rows(begin, end);
    reducer.backward(mul_scalar(cross_entropy((*mine.layers)(x), labels), 0.5f));
  }
  const std::vector<Parameter> got = mine.parameters(), want = whole.parameters();
  for (size_t k = 0; k + 1 < got.size(); ++k) {
    REQUIRE(got[k].tensor.has_grad());
    const std::vector<float> g = got[k].tensor.grad_tensor().to_vector(),
                             w = want[k].tensor.grad_tensor().to_vector();
    for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == Approx(w[i]).margin(1e-6));
  }
}
