// GradientAllreduce: buckets packed from the gradients the backward pass has finished, summed over
// the ranks in place (MPI_Iallreduce), and unpacked into the gradients once every sum is in.
#include "core/distributed/gradient_allreduce.h"

#include <chrono>
#include <cstring>
#include <unordered_set>

#include "core/autograd.h"

namespace lowbit {

GradientAllreduce::GradientAllreduce(const std::vector<Parameter>& params, Communicator& comm,
                                     GradientAllreduceOptions options)
    : comm_(comm), options_(options) {
  LOWBIT_CHECK(options.bucket_bytes > 0 && options.extras >= 0, "GradientAllreduce: bucket_bytes ",
               options.bucket_bytes, " and extras ", options.extras, ": expected > 0 and >= 0");
  std::unordered_set<const TensorImpl*> seen;
  for (const Parameter& p : params) {
    if (seen.insert(p.tensor.impl()).second) params_.push_back(p);
  }
  // Reverse registration order: the output layers' gradients are final first.
  const int64_t bucket_floats = options.bucket_bytes / static_cast<int64_t>(sizeof(float));
  Bucket current;
  int64_t floats = 0;
  auto close = [&] {
    if (current.params.empty()) return;
    current.flags = floats;
    floats += static_cast<int64_t>(current.params.size());
    current.extras = buckets_.empty() ? floats : -1;
    if (buckets_.empty()) floats += options.extras;
    current.sums.assign(static_cast<size_t>(floats), 0.0f);
    buckets_.push_back(std::move(current));
    current = Bucket();
    floats = 0;
  };
  for (size_t k = params_.size(); k-- > 0;) {
    current.params.push_back(k);
    current.offsets.push_back(floats);
    floats += params_[k].tensor.numel();
    bucket_of_[params_[k].tensor.impl()] = buckets_.size();
    if (floats >= bucket_floats) close();
  }
  close();
}

void GradientAllreduce::backward(const Tensor& loss, float* extras) {
  if (!comm_.distributed() || buckets_.empty()) {
    if (loss.defined()) lowbit::backward(loss);
    return;
  }
  LOWBIT_CHECK(options_.extras == 0 || extras != nullptr, "GradientAllreduce: ", options_.extras,
               " extras to sum, but none given");
  extras_ = extras;
  started_ = 0;
  for (Bucket& b : buckets_) b.unready = static_cast<int64_t>(b.params.size());
  if (loss.defined() && options_.overlap) {
    lowbit::backward(loss, Tensor(), [this](const Tensor& leaf) { on_leaf_ready(leaf); });
  } else if (loss.defined()) {
    lowbit::backward(loss);
  }
  // Parameters the pass did not reach hold back their buckets until here.
  start_ready_buckets(true);
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) comm_.wait(b.sum);
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (Bucket& b : buckets_) unpack(b);
}

void GradientAllreduce::on_leaf_ready(const Tensor& leaf) {
  const auto found = bucket_of_.find(leaf.impl());
  if (found == bucket_of_.end()) return;  // a trainable tensor this object does not sum
  --buckets_[found->second].unready;
  start_ready_buckets(false);
  // MPI moves a non-blocking sum on only inside MPI calls: give it one now and then.
  for (size_t b = 0; b < started_; ++b) comm_.test(buckets_[b].sum);
}

void GradientAllreduce::start_ready_buckets(bool all) {
  while (started_ < buckets_.size() && (all || buckets_[started_].unready == 0)) {
    Bucket& b = buckets_[started_++];
    pack(b);
    b.sum = comm_.start_allreduce_sum(b.sums.data(), static_cast<int64_t>(b.sums.size()),
                                      "the gradient all-reduce");
  }
}

void GradientAllreduce::pack(Bucket& b) {
  float* sums = b.sums.data();
  for (size_t i = 0; i < b.params.size(); ++i) {
    const Tensor& t = params_[b.params[i]].tensor;
    float* dst = sums + b.offsets[i];
    const size_t bytes = sizeof(float) * static_cast<size_t>(t.numel());
    const bool has = t.has_grad();
    if (has) {
      std::memcpy(dst, t.grad(), bytes);
    } else {
      std::memset(dst, 0, bytes);
    }
    sums[b.flags + static_cast<int64_t>(i)] = has ? 1.0f : 0.0f;
  }
  if (b.extras >= 0 && options_.extras > 0)
    std::memcpy(sums + b.extras, extras_, sizeof(float) * static_cast<size_t>(options_.extras));
}

void GradientAllreduce::unpack(Bucket& b) {
  const float* sums = b.sums.data();
  for (size_t i = 0; i < b.params.size(); ++i) {
    if (sums[b.flags + static_cast<int64_t>(i)] == 0.0f) continue;  // no rank had a gradient
    const Tensor& t = params_[b.params[i]].tensor;
    std::memcpy(t.grad(), sums + b.offsets[i], sizeof(float) * static_cast<size_t>(t.numel()));
  }
  if (b.extras >= 0 && options_.extras > 0)
    std::memcpy(extras_, sums + b.extras, sizeof(float) * static_cast<size_t>(options_.extras));
}

}  // namespace lowbit
