// Data-parallel bookkeeping: the replica hashes see any change of a parameter, a running
// statistic, a moment or a grid state; on 2 ranks (this program under mpirun) the check passes for
// ranks that hold the same model and fails, on every rank, for one grid state changed on one rank;
// running statistics are averaged over the ranks unless batch norm is synchronized.
#include "apps/train/data_parallel.h"

#include <catch2/catch.hpp>
#include <memory>

#include "core/autograd.h"
#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/linear.h"
#include "layers/losses.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "optim/dst_optimizer.h"
#include "tests/mpi_runs.h"

using namespace lowbit;
using namespace lowbit::testing;

namespace {

// Linear, batch norm, linear: the weights on the power-of-two grid (DST over Adam), the rest with
// Adam, after one step on a fixed batch so that every moment is non-zero.
struct Replica {
  std::shared_ptr<Sequential> model = std::make_shared<Sequential>();
  std::shared_ptr<BatchNorm> norm = std::make_shared<BatchNorm>(6);
  std::unique_ptr<DstOptimizer> dst;
  std::unique_ptr<Adam> adam;
  Replica() {
    Rng rng(1);
    model->add("fc1", std::make_shared<Linear>(4, 6, false, rng))
        .add("bn", norm)
        .add("fc2", std::make_shared<Linear>(6, 3, true, rng));
    std::vector<Parameter> grid, rest;
    for (const Parameter& p : model->parameters())
      (p.role == ParamRole::kWeight ? grid : rest).push_back(p);
    AdamOptions adam_options;
    adam_options.lr = 0.05f;
    dst = std::make_unique<DstOptimizer>(grid, DstSpec{},
                                         BaseOptimizerOptions::with_adam(adam_options), 3);
    adam = std::make_unique<Adam>(rest, adam_options);
    Tensor x = Tensor::empty({8, 4});
    Rng data(2);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = data.normal();
    backward(cross_entropy((*model)(x), {0, 1, 2, 0, 1, 2, 0, 1}));
    dst->step();
    adam->step();
  }
  std::vector<Optimizer*> optimizers() const { return {dst.get(), adam.get()}; }
  ReplicaHashes hashes() const { return replica_hashes(*model, optimizers()); }
};

// One grid state moved to its neighbour: the smallest change DST can make.
void change_one_grid_state(Replica& r) {
  std::vector<NamedBlob> blobs = r.dst->blob_state();
  int8_t& s = reinterpret_cast<int8_t&>(blobs.front().bytes[3]);
  s = s == 0 ? 1 : 0;
  r.dst->load_blob_state(blobs);
}

}  // namespace

TEST_CASE("replica hashes see every part of a replica's state", "[apps][data_parallel]") {
  const Replica a;
  const ReplicaHashes first = a.hashes(), again = Replica().hashes();
  for (int k = 0; k < ReplicaHashes::kParts; ++k) CHECK(first.part[k] == again.part[k]);
  auto differs_in = [&](const Replica& b) {
    std::vector<int> parts;
    for (int k = 0; k < ReplicaHashes::kParts; ++k)
      if (a.hashes().part[k] != b.hashes().part[k]) parts.push_back(k);
    return parts;
  };
  Replica grid;
  change_one_grid_state(grid);  // the grid state and the weight it decodes to
  CHECK(differs_in(grid) == std::vector<int>{0, 3});
  Replica bias;
  bias.model->parameters().back().tensor.data()[0] += 1e-7f;
  CHECK(differs_in(bias) == std::vector<int>{0});
  Replica statistics;
  statistics.norm->running_var().data()[5] *= 1.0f + 1e-7f;
  CHECK(differs_in(statistics) == std::vector<int>{1});
  Replica moment;
  moment.adam->reset_state();
  CHECK(differs_in(moment) == std::vector<int>{2});
}

TEST_CASE("data-parallel bookkeeping does nothing in one process", "[apps][data_parallel]") {
  Replica r;
  const ReplicaHashes before = r.hashes();
  average_batch_norm_statistics(*r.model, world());
  CHECK_NOTHROW(check_replicas_agree(*r.model, r.optimizers(), world(), "after epoch 1"));
  CHECK(r.hashes().part[1] == before.part[1]);
  CHECK(synchronize_batch_norms(*r.model, &world()) == 1);
  CHECK(r.norm->synchronized());
  CHECK(synchronize_batch_norms(*r.model, nullptr) == 1);
  CHECK_FALSE(r.norm->synchronized());
}

TEST_CASE("the replicas' check and the statistics' average on 2 ranks",
          "[mpi][apps][data_parallel]") {
  check_cases_pass_on_ranks(2, "[.][ranks-data_parallel]", "the replicas' check on 2 ranks");
}

// ---- the cases mpirun runs on every rank ----

TEST_CASE("ranks: the check passes for one model and fails for a changed grid state",
          "[.][ranks-data_parallel]") {
  Communicator& ranks = world();
  REQUIRE(ranks.size() == 2);
  ranks.set_timeout(60);
  Replica r;
  CHECK_NOTHROW(check_replicas_agree(*r.model, r.optimizers(), ranks, "after epoch 1"));
  if (ranks.rank() == 1) change_one_grid_state(r);
  try {
    check_replicas_agree(*r.model, r.optimizers(), ranks, "after epoch 2");
    FAIL("the check passed");
  } catch (const CollectiveError& e) {  // on both ranks, with the same message
    const std::string message = e.what();
    CHECK_THAT(message, Catch::StartsWith("after epoch 2, the ranks' states differ (parameters: "
                                          "rank 0 ") &&
                            Catch::Contains("; grid states: rank 0 ") &&
                            Catch::Contains("): they no longer train one model"));
    CHECK(message.find("batch-norm statistics") == std::string::npos);
  }
}

TEST_CASE("ranks: running statistics averaged unless synchronized", "[.][ranks-data_parallel]") {
  Communicator& ranks = world();
  Replica r;
  const float own = 1.0f + static_cast<float>(ranks.rank());  // 1 and 2
  r.norm->running_mean().fill(own);
  r.norm->running_var().fill(3.0f * own);
  average_batch_norm_statistics(*r.model, ranks);
  CHECK(r.norm->running_mean().data()[0] == 1.5f);
  CHECK(r.norm->running_var().data()[5] == 4.5f);
  CHECK_NOTHROW(check_replicas_agree(*r.model, r.optimizers(), ranks, "after epoch 1"));
  synchronize_batch_norms(*r.model, &ranks);
  r.norm->running_mean().fill(own);
  average_batch_norm_statistics(*r.model, ranks);  // synchronized: already alike, left alone
  CHECK(r.norm->running_mean().data()[0] == own);
}
