// Communicator on MPI (compiled with LOWBIT_MPI) or as a world of one process. Every collective is
// MPI's non-blocking one, finished by polling MPI_Test: that is what lets a wait end with a clear
// error after the timeout instead of hanging with a dead or stopped rank, and what lets gradient
// sums run while the backward pass goes on. The communicator's error handler is MPI_ERRORS_RETURN,
// so that an MPI failure becomes a lowbit::Error naming the collective and MPI's reason.
#include "core/distributed/communicator.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#ifdef LOWBIT_MPI
// MPI's C interface only: the deprecated C++ bindings would need their own library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace lowbit {
namespace {

Communicator& world_storage() {
  static Communicator communicator;
  return communicator;
}

int environment_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return *end == '\0' && parsed >= 0 && parsed < (1 << 24) ? static_cast<int>(parsed) : fallback;
}

// Open MPI's mpirun, MPICH's and Intel MPI's Hydra, and PMIx launchers (srun --mpi=pmix) each set
// some of these in every process they start.
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

}  // namespace

Communicator& world() { return world_storage(); }

int launched_world_size() {
  if (!launched_by_mpi()) return 1;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    const int size = environment_int(name, 0);
    if (size > 0) return size;
  }
  return 1;
}

int launched_rank() {
  if (!launched_by_mpi()) return 0;
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}) {
    const int rank = environment_int(name, -1);
    if (rank >= 0) return rank;
  }
  return 0;
}

#ifdef LOWBIT_MPI

bool mpi_built() { return true; }

struct Communicator::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
};

struct Communicator::Pending::State {
  MPI_Request request = MPI_REQUEST_NULL;
  std::string what;
};

namespace {

// An MPI return code as lowbit::Error: "<what> failed on rank r: <MPI's reason>".
void check_mpi(int code, const std::string& what, int rank) {
  if (code == MPI_SUCCESS) return;
  char reason[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, reason, &length);
  throw Error(concat(what, " failed on rank ", rank, ": ", std::string(reason, length)));
}

// Polls `request` until it completes. The first 2 ms spin (a sum of gradients usually arrives
// within microseconds of the slowest rank), yielding the core to another process between tests so
// that ranks oversubscribing the cores still move on; after that the poll sleeps up to 1 ms, which
// a wait of that length does not notice.
void wait_for(MPI_Request& request, const std::string& what, int rank, double timeout) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    int done = 0;
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what, rank);
    if (done) return;
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    LOWBIT_CHECK(timeout <= 0 || waited < timeout, what, ": rank ", rank, " waited ", timeout,
                 " s for the other ranks: one of them has died or hangs");
    if (waited < 2e-3) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(waited < 0.1 ? 100 : 1000));
    }
  }
}

MPI_Datatype mpi_type(const float*) { return MPI_FLOAT; }
MPI_Datatype mpi_type(const double*) { return MPI_DOUBLE; }
MPI_Datatype mpi_type(const int64_t*) { return MPI_INT64_T; }

}  // namespace

Communicator::Pending::Pending() = default;
// An unfinished sum is left to MPI: only an error path (which ends the job with MPI_Abort) drops
// one, and waiting there could hang on the rank that failed.
Communicator::Pending::~Pending() = default;
Communicator::Pending::Pending(Pending&&) noexcept = default;
Communicator::Pending& Communicator::Pending::operator=(Pending&&) noexcept = default;
bool Communicator::Pending::active() const {
  return state_ != nullptr && state_->request != MPI_REQUEST_NULL;
}

namespace {

template <class T>
void blocking_allreduce(MPI_Comm comm, T* data, int64_t n, MPI_Op op, const char* what, int rank,
                        double timeout) {
  LOWBIT_CHECK(n >= 0 && n <= INT32_MAX, what, ": ", n, " values, more than one MPI call takes");
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(
      MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), mpi_type(data), op, comm, &request),
      what, rank);
  wait_for(request, what, rank, timeout);
}

}  // namespace

void Communicator::allreduce_sum(float* data, int64_t n, const char* what) {
  if (impl_) blocking_allreduce(impl_->comm, data, n, MPI_SUM, what, rank_, timeout_);
}
void Communicator::allreduce_sum(double* data, int64_t n, const char* what) {
  if (impl_) blocking_allreduce(impl_->comm, data, n, MPI_SUM, what, rank_, timeout_);
}
void Communicator::allreduce_sum(int64_t* data, int64_t n, const char* what) {
  if (impl_) blocking_allreduce(impl_->comm, data, n, MPI_SUM, what, rank_, timeout_);
}
void Communicator::allreduce_max(double* data, int64_t n, const char* what) {
  if (impl_) blocking_allreduce(impl_->comm, data, n, MPI_MAX, what, rank_, timeout_);
}

std::vector<uint64_t> Communicator::allgather(uint64_t value, const char* what) {
  std::vector<uint64_t> all(static_cast<size_t>(size_), value);
  if (!impl_) return all;
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(
      MPI_Iallgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, impl_->comm, &request),
      what, rank_);
  wait_for(request, what, rank_, timeout_);
  return all;
}

void Communicator::broadcast(std::string& bytes, int root, const char* what) {
  if (!impl_) return;
  uint64_t length = bytes.size();
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibcast(&length, 1, MPI_UINT64_T, root, impl_->comm, &request), what, rank_);
  wait_for(request, what, rank_, timeout_);
  LOWBIT_CHECK(length <= INT32_MAX, what, ": ", length, " bytes, more than one MPI call takes");
  bytes.resize(length);
  check_mpi(
      MPI_Ibcast(bytes.data(), static_cast<int>(length), MPI_CHAR, root, impl_->comm, &request),
      what, rank_);
  wait_for(request, what, rank_, timeout_);
}

Communicator::Pending Communicator::start_allreduce_sum(float* data, int64_t n, const char* what) {
  Pending pending;
  if (!impl_) return pending;
  LOWBIT_CHECK(n >= 0 && n <= INT32_MAX, what, ": ", n, " values, more than one MPI call takes");
  pending.state_ = std::make_unique<Pending::State>();
  pending.state_->what = what;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, impl_->comm,
                           &pending.state_->request),
            what, rank_);
  return pending;
}

bool Communicator::test(Pending& pending) {
  if (!pending.active()) return true;
  int done = 0;
  check_mpi(MPI_Test(&pending.state_->request, &done, MPI_STATUS_IGNORE), pending.state_->what,
            rank_);
  return done != 0;
}

void Communicator::wait(Pending& pending) {
  if (!pending.active()) return;
  wait_for(pending.state_->request, pending.state_->what, rank_, timeout_);
}

void Communicator::agree(const std::function<void()>& step) {
  std::string message;
  bool failed = false;
  try {
    step();
  } catch (const std::exception& e) {
    failed = true;
    message = e.what();
  }
  if (!impl_) {
    if (failed) throw CollectiveError(message);
    return;
  }
  // Every rank's message length (+1; 0: no failure), then the messages at rank 0, which alone
  // prints; the others throw the same kind of error and end quietly.
  const double saved_timeout = timeout_;
  timeout_ = 0;
  const std::vector<uint64_t> lengths =
      allgather(failed ? message.size() + 1 : 0, "the agreement after setup");
  timeout_ = saved_timeout;
  bool any = false;
  for (uint64_t length : lengths) any = any || length > 0;
  if (!any) return;
  std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    counts[static_cast<size_t>(r)] = static_cast<int>(lengths[static_cast<size_t>(r)]);
    offsets[static_cast<size_t>(r)] = total;
    total += counts[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(rank_ == 0 ? total : 0), '\0');
  message.push_back('\0');
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(
      MPI_Igatherv(message.data(), failed ? static_cast<int>(message.size()) : 0, MPI_CHAR,
                   all.data(), counts.data(), offsets.data(), MPI_CHAR, 0, impl_->comm, &request),
      "the agreement after setup", rank_);
  wait_for(request, "the agreement after setup", rank_, 0);
  if (rank_ != 0) throw CollectiveError("failed on another rank");
  // One line: rank 0's message alone when every failing rank said the same, else "rank r: ..."
  // for each distinct message, in rank order.
  std::vector<std::pair<std::string, std::vector<int>>> distinct;
  for (int r = 0; r < size_; ++r) {
    if (counts[static_cast<size_t>(r)] == 0) continue;
    const std::string text(all.data() + offsets[static_cast<size_t>(r)]);
    bool seen = false;
    for (auto& d : distinct) {
      if (d.first == text) {
        d.second.push_back(r);
        seen = true;
      }
    }
    if (!seen) distinct.push_back({text, {r}});
  }
  if (distinct.size() == 1 && distinct.front().second.front() == 0)
    throw CollectiveError(distinct.front().first);
  std::string line;
  for (const auto& d : distinct) {
    if (!line.empty()) line += "; ";
    line += d.second.size() == 1 ? "rank " : "ranks ";
    for (size_t i = 0; i < d.second.size(); ++i)
      line += (i > 0 ? "," : "") + std::to_string(d.second[i]);
    line += ": " + d.first;
  }
  throw CollectiveError(line);
}

void Communicator::abort(int status) const {
  std::fflush(stdout);
  std::fflush(stderr);
  if (impl_) MPI_Abort(impl_->comm, status);
  std::exit(status);
}

DistributedSession::DistributedSession(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the thread that called MPI_Init calls MPI (the batch loader's thread and OpenMP's never).
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  initialized_ = true;
  Communicator& w = world_storage();
  w.impl_ = std::make_unique<Communicator::Impl>();
  w.impl_->comm = MPI_COMM_WORLD;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size_);
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  if (local != MPI_COMM_NULL) {
    MPI_Comm_size(local, &w.local_size_);
    MPI_Comm_free(&local);
  }
}

DistributedSession::~DistributedSession() {
  if (!initialized_) return;
  Communicator& w = world_storage();
  w.impl_.reset();
  w.rank_ = 0;
  w.size_ = w.local_size_ = 1;
  MPI_Finalize();
}

#else  // a build without MPI: a world of one process

bool mpi_built() { return false; }

struct Communicator::Impl {};
struct Communicator::Pending::State {};

Communicator::Pending::Pending() = default;
Communicator::Pending::~Pending() = default;
Communicator::Pending::Pending(Pending&&) noexcept = default;
Communicator::Pending& Communicator::Pending::operator=(Pending&&) noexcept = default;
bool Communicator::Pending::active() const { return false; }

void Communicator::allreduce_sum(float*, int64_t, const char*) {}
void Communicator::allreduce_sum(double*, int64_t, const char*) {}
void Communicator::allreduce_sum(int64_t*, int64_t, const char*) {}
void Communicator::allreduce_max(double*, int64_t, const char*) {}
std::vector<uint64_t> Communicator::allgather(uint64_t value, const char*) { return {value}; }
void Communicator::broadcast(std::string&, int, const char*) {}
Communicator::Pending Communicator::start_allreduce_sum(float*, int64_t, const char*) { return {}; }
bool Communicator::test(Pending&) { return true; }
void Communicator::wait(Pending&) {}

void Communicator::agree(const std::function<void()>& step) {
  try {
    step();
  } catch (const std::exception& e) {
    throw CollectiveError(e.what());
  }
}

void Communicator::abort(int status) const {
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(status);
}

DistributedSession::DistributedSession(int*, char***) {
  const int size = launched_world_size();
  LOWBIT_CHECK(size <= 1, "started as ", size,
               " processes by an MPI launcher, but this build has no MPI (configure with "
               "-DLOWBIT_MPI=ON and libopenmpi-dev installed): each would train alone");
}

DistributedSession::~DistributedSession() = default;

#endif

Communicator::Communicator() = default;
Communicator::~Communicator() = default;
Communicator::Communicator(Communicator&&) noexcept = default;
Communicator& Communicator::operator=(Communicator&&) noexcept = default;

void Communicator::set_timeout(double seconds) {
  LOWBIT_CHECK(seconds >= 0, "collective timeout ", seconds, " s: expected >= 0 (0: none)");
  timeout_ = seconds;
}

}  // namespace lowbit
