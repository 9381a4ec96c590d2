// Communicator: the processes of one data-parallel run and the collectives it needs (issue 24),
// on MPI. A program that no MPI launcher started is a world of one process, in which every
// collective leaves its input as it is: the training loop runs the same code either way. This file
// and communicator.cpp are the only ones that know MPI.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"

namespace lowbit {

// An error that every rank throws alike (a failure agree() made known to all, or a check of numbers
// every rank reduced identically): each rank ends with it, and rank 0 alone prints it.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

class Communicator {
 public:
  // A world of one process.
  Communicator();
  ~Communicator();
  Communicator(Communicator&&) noexcept;
  Communicator& operator=(Communicator&&) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  // The ranks on this rank's machine (1 in one process).
  int local_size() const { return local_size_; }

  // A collective that waits longer than `seconds` for the other ranks throws lowbit::Error saying
  // that one of them died or hangs; 0 waits for ever. agree() always waits for ever (ranks may
  // load their data at different speeds).
  void set_timeout(double seconds);
  double timeout() const { return timeout_; }

  // Sums over the ranks, in place; every rank gets the same values. `what` names the collective in
  // errors ("the gradient all-reduce").
  void allreduce_sum(float* data, int64_t n, const char* what);
  void allreduce_sum(double* data, int64_t n, const char* what);
  void allreduce_sum(int64_t* data, int64_t n, const char* what);
  // Elementwise maxima over the ranks, in place.
  void allreduce_max(double* data, int64_t n, const char* what);
  // Every rank's value, in rank order.
  std::vector<uint64_t> allgather(uint64_t value, const char* what);
  // Rank `root`'s bytes on every rank (`bytes` is resized to them).
  void broadcast(std::string& bytes, int root, const char* what);

  // A sum started now and finished by wait(): the rank computes on meanwhile, and MPI moves the
  // sum on whenever this rank calls test() or wait(). `data` must stay untouched until then.
  class Pending {
   public:
    Pending();
    ~Pending();  // waits for an unfinished sum (without a timeout): MPI still writes into `data`
    Pending(Pending&&) noexcept;
    Pending& operator=(Pending&&) noexcept;
    bool active() const;

   private:
    friend class Communicator;
    struct State;
    std::unique_ptr<State> state_;
  };
  Pending start_allreduce_sum(float* data, int64_t n, const char* what);
  // True once the sum is complete (then `pending` is inactive).
  bool test(Pending& pending);
  void wait(Pending& pending);

  // Runs step() on every rank, then lets every rank know whether it failed anywhere. If it did,
  // every rank throws CollectiveError with the failures' messages: one message when every failing
  // rank had the same one and rank 0 was among them, else each distinct one as "rank r: message".
  // Setup that can fail on one machine only (its data, its lock) goes through here, so that the
  // job ends with one clear line instead of waiting for the failed rank in its first collective.
  void agree(const std::function<void()>& step);

  // Ends every rank's process (MPI_Abort) with `status`; in one process, exits with it.
  [[noreturn]] void abort(int status) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // null in one process
  int rank_ = 0, size_ = 1, local_size_ = 1;
  double timeout_ = 0;
  friend class DistributedSession;
};

// The world of this process: MPI's while a DistributedSession lives, else a world of one.
Communicator& world();

// Whether this build has MPI (-DLOWBIT_MPI=ON).
bool mpi_built();
// The number of processes an MPI launcher (mpirun, mpiexec, srun) started this program in, read
// from the environment it set (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_... ); 1 when none did. And
// this process's rank among them (0 when none).
int launched_world_size();
int launched_rank();

// MPI for the life of the object when an MPI launcher started the program (then world() is
// MPI_COMM_WORLD), else nothing. One per program, in its main: MPI initializes once per process.
// Without MPI in the build, a launch of more than one process is refused with lowbit::Error.
class DistributedSession {
 public:
  DistributedSession(int* argc, char*** argv);
  ~DistributedSession();
  DistributedSession(const DistributedSession&) = delete;
  DistributedSession& operator=(const DistributedSession&) = delete;

 private:
  bool initialized_ = false;
};

}  // namespace lowbit
