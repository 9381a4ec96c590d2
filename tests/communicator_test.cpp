// Communicator: a world of one process leaves every value as it is; on 3 ranks (this program under
// mpirun, its hidden "[.][ranks-communicator]" cases) the sums, gathers, broadcasts and started
// sums are right and the same on every rank, and agree() turns one rank's failure into the same
// error on all of them.
#include "core/distributed/communicator.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/mpi_runs.h"

using namespace lowbit;
using namespace lowbit::testing;

TEST_CASE("a world of one process leaves every collective's values as they are", "[communicator]") {
  Communicator one;
  CHECK(one.rank() == 0);
  CHECK(one.size() == 1);
  CHECK_FALSE(one.distributed());
  std::vector<float> f{1.5f, -2.0f};
  one.allreduce_sum(f.data(), 2, "test");
  CHECK(f == std::vector<float>{1.5f, -2.0f});
  std::vector<int64_t> i{7};
  one.allreduce_sum(i.data(), 1, "test");
  CHECK(i[0] == 7);
  std::vector<double> m{-0.5, 3.0};
  one.allreduce_max(m.data(), 2, "test");
  CHECK(m == std::vector<double>{-0.5, 3.0});
  CHECK(one.allgather(42, "test") == std::vector<uint64_t>{42});
  std::string bytes = "kept";
  one.broadcast(bytes, 0, "test");
  CHECK(bytes == "kept");
  Communicator::Pending pending = one.start_allreduce_sum(f.data(), 2, "test");
  CHECK_FALSE(pending.active());
  CHECK(one.test(pending));
  one.wait(pending);
  // agree() in one process: the step's error, as the error every rank meets alike.
  CHECK_NOTHROW(one.agree([] {}));
  CHECK_THROWS_AS(one.agree([] { throw Error("no data"); }), CollectiveError);
  CHECK_THROWS_WITH(one.agree([] { throw Error("no data"); }), "no data");
  CHECK_THROWS_WITH(one.set_timeout(-1), Catch::Contains("expected >= 0"));
}

TEST_CASE("the communicator's collectives on 3 ranks", "[mpi][communicator]") {
  check_cases_pass_on_ranks(3, "[.][ranks-communicator]", "the communicator on 3 ranks");
}

// ---- the cases mpirun runs on every rank ----

TEST_CASE("ranks: sums, gathers and broadcasts", "[.][ranks-communicator]") {
  Communicator& ranks = world();
  REQUIRE(ranks.size() == 3);
  ranks.set_timeout(60);
  const int r = ranks.rank();
  CHECK(launched_rank() == r);
  CHECK(launched_world_size() == 3);
  CHECK(ranks.local_size() == 3);  // all on this machine
  std::vector<float> f{static_cast<float>(r), 0.5f};
  ranks.allreduce_sum(f.data(), 2, "test");
  CHECK(f == std::vector<float>{3.0f, 1.5f});
  std::vector<double> d{1e-3 * r};
  ranks.allreduce_sum(d.data(), 1, "test");
  CHECK(d[0] == Approx(3e-3));
  std::vector<int64_t> i{int64_t{1} << (40 + r)};  // beyond 32 bits
  ranks.allreduce_sum(i.data(), 1, "test");
  CHECK(i[0] == (int64_t{7} << 40));
  // Each element's largest, from whichever rank holds it (rank 2 the first, rank 0 the second).
  std::vector<double> m{0.25 * r, -1.0 - r};
  ranks.allreduce_max(m.data(), 2, "test");
  CHECK(m == std::vector<double>{0.5, -1.0});
  CHECK(ranks.allgather(static_cast<uint64_t>(10 + r), "test") ==
        std::vector<uint64_t>{10, 11, 12});
  std::string bytes = r == 1 ? std::string("from rank 1\0!", 13) : std::string("x");
  ranks.broadcast(bytes, 1, "test");
  CHECK(bytes == std::string("from rank 1\0!", 13));
  // A started sum, finished while other collectives run.
  std::vector<float> big(100000, 1.0f + static_cast<float>(r));
  Communicator::Pending pending = ranks.start_allreduce_sum(big.data(), 100000, "test");
  CHECK(pending.active());
  std::vector<int64_t> between{1};
  ranks.allreduce_sum(between.data(), 1, "test");
  CHECK(between[0] == 3);
  while (!ranks.test(pending)) {
  }
  ranks.wait(pending);
  CHECK(big.front() == 6.0f);
  CHECK(big.back() == 6.0f);
}

TEST_CASE("ranks: agree() ends every rank with the failing ranks' messages",
          "[.][ranks-communicator]") {
  Communicator& ranks = world();
  REQUIRE(ranks.size() == 3);
  CHECK_NOTHROW(ranks.agree([] {}));
  // Rank 1 alone fails: rank 0, which prints, names it; the others end quietly alike.
  try {
    ranks.agree([&] {
      if (ranks.rank() == 1) throw Error("its data is missing");
    });
    FAIL("agree() did not throw");
  } catch (const CollectiveError& e) {
    if (ranks.rank() == 0) CHECK(std::string(e.what()) == "rank 1: its data is missing");
  }
  // Every rank fails alike: one message, rank 0's.
  try {
    ranks.agree([] { throw Error("--lr nan"); });
    FAIL("agree() did not throw");
  } catch (const CollectiveError& e) {
    if (ranks.rank() == 0) CHECK(std::string(e.what()) == "--lr nan");
  }
  // Different failures: each one named with its ranks.
  try {
    ranks.agree([&] {
      if (ranks.rank() > 0) throw Error(ranks.rank() == 1 ? "a" : "b");
    });
    FAIL("agree() did not throw");
  } catch (const CollectiveError& e) {
    if (ranks.rank() == 0) CHECK(std::string(e.what()) == "rank 1: a; rank 2: b");
  }
  // Still in step afterwards.
  std::vector<int64_t> one{1};
  ranks.allreduce_sum(one.data(), 1, "test");
  CHECK(one[0] == 3);
}
