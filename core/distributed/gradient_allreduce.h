// GradientAllreduce: the backward pass of data-parallel training, after which every parameter's
// gradient is its sum over the ranks. Gradients go in buckets of about bucket_bytes, filled in the
// reverse of the parameters' registration order (roughly the order the backward pass finishes
// them), and a bucket's sum starts as soon as its last gradient is final, while the backward pass
// goes on with the earlier layers: the scheme of PyTorch's DistributedDataParallel (Li et al.,
// "PyTorch Distributed", VLDB 2020). In one process it is backward() and nothing else.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/distributed/communicator.h"
#include "core/parameter.h"

namespace lowbit {

// Large enough that a bucket's sum costs its bandwidth rather than MPI's per-call latency, small
// enough that the first buckets are ready early in the backward pass (bench/allreduce_bench).
constexpr int64_t kDefaultBucketBytes = 4 << 20;

struct GradientAllreduceOptions {
  int64_t bucket_bytes = kDefaultBucketBytes;
  // Start each bucket's sum as soon as it is ready (else all of them after the backward pass).
  bool overlap = true;
  // How many numbers about each batch (its loss, its correct predictions) are summed alongside the
  // gradients, in the first bucket, so that they cost no collective of their own.
  int extras = 0;
};

class GradientAllreduce {
 public:
  // `params`: every trainable parameter of the model, in registration order (duplicates, the same
  // tensor twice, are summed once). Every rank must build it from the same list. The communicator
  // must outlive this object.
  GradientAllreduce(const std::vector<Parameter>& params, Communicator& comm,
                    GradientAllreduceOptions options = {});

  // backward(loss); then every parameter gradient is the sum of the ranks' gradients, and
  // extras[0..options.extras) the sum of the ranks' extras. A parameter gets a gradient when it
  // had one on any rank (a rank without one adds zeros), and stays without one otherwise, as in
  // one process. An undefined loss (a rank without images in this batch) adds zeros. In one
  // process: backward(loss) alone, the extras left as they are.
  void backward(const Tensor& loss, float* extras = nullptr);

  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  // Seconds spent after the backward pass waiting for sums to finish (the communication the
  // overlap did not hide), summed since construction.
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Bucket {
    std::vector<size_t> params;    // indices into params_
    std::vector<int64_t> offsets;  // of each parameter's gradient in `sums`
    int64_t flags = 0;             // offset of one flag per parameter: 1 where it had a gradient
    int64_t extras = 0;            // offset of the extras (first bucket), or -1
    std::vector<float> sums;
    int64_t unready = 0;  // parameters whose gradient is not final yet in this backward pass
    Communicator::Pending sum;
  };

  void on_leaf_ready(const Tensor& leaf);
  // Starts the sums of the buckets, in bucket order, that are ready (all, with `all`): every rank
  // starts them in the same order, which MPI requires of collectives on one communicator.
  void start_ready_buckets(bool all);
  void pack(Bucket& bucket);
  void unpack(Bucket& bucket);

  std::vector<Parameter> params_;
  Communicator& comm_;
  GradientAllreduceOptions options_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const TensorImpl*, size_t> bucket_of_;  // parameter tensor -> bucket
  size_t started_ = 0;       // buckets started in this backward pass
  float* extras_ = nullptr;  // this backward pass's
  double wait_seconds_ = 0;
};

}  // namespace lowbit
