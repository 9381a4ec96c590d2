// Data-parallel bookkeeping: sharded loaders, synchronized or averaged batch norm, and the
// replicas' hash check.
#include "apps/train/data_parallel.h"

#include <cstring>
#include <functional>

#include "apps/train/run_setup.h"
#include "core/rng.h"
#include "layers/batch_norm.h"

namespace lowbit {
namespace {

void for_each_batch_norm(Module& model, const std::function<void(BatchNorm&)>& f) {
  if (auto* bn = dynamic_cast<BatchNorm*>(&model)) f(*bn);
  for (const auto& child : model.children()) for_each_batch_norm(*child.second, f);
}

// Folds bytes into h eight at a time through splitmix64 (the tail zero-padded), with the length
// first, so that two different byte strings collide with probability about 2^-64.
uint64_t hash_bytes(uint64_t h, const void* data, size_t size) {
  h = splitmix64(h ^ size);
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    h = splitmix64(h ^ word);
  }
  if (i < size) {
    uint64_t word = 0;
    std::memcpy(&word, bytes + i, size - i);
    h = splitmix64(h ^ word);
  }
  return h;
}

uint64_t hash_tensor(uint64_t h, const std::string& name, const Tensor& t) {
  h = hash_bytes(h, name.data(), name.size());
  return hash_bytes(h, t.data(), sizeof(float) * static_cast<size_t>(t.numel()));
}

const char* const kPartNames[ReplicaHashes::kParts] = {"parameters", "batch-norm statistics",
                                                       "optimizer moments", "grid states"};

}  // namespace

void shard_for_this_rank(BatchLoaderOptions& options) {
  options.shard = world().rank();
  options.shards = world().size();
}

std::unique_ptr<BatchLoader> sharded_eval_loader(const Dataset& data, int64_t batch_size,
                                                 const DatasetInfo& info) {
  BatchLoaderOptions o;
  o.batch_size = batch_size;
  shard_for_this_rank(o);
  return std::make_unique<BatchLoader>(data, normalization(info), o);
}

int64_t synchronize_batch_norms(Module& model, Communicator* ranks) {
  int64_t count = 0;
  for_each_batch_norm(model, [&](BatchNorm& bn) {
    bn.synchronize(ranks);
    ++count;
  });
  return count;
}

void average_batch_norm_statistics(Module& model, Communicator& ranks) {
  if (!ranks.distributed()) return;
  std::vector<BatchNorm*> norms;
  for_each_batch_norm(model, [&](BatchNorm& bn) {
    if (!bn.synchronized()) norms.push_back(&bn);
  });
  if (norms.empty()) return;
  std::vector<double> sums;
  for (BatchNorm* bn : norms) {
    for (const Tensor* t : {&bn->running_mean(), &bn->running_var()})
      sums.insert(sums.end(), t->data(), t->data() + t->numel());
  }
  ranks.allreduce_sum(sums.data(), static_cast<int64_t>(sums.size()),
                      "the batch-norm statistics' average");
  const double inverse = 1.0 / ranks.size();
  size_t at = 0;
  for (BatchNorm* bn : norms) {
    for (const Tensor* t : {&bn->running_mean(), &bn->running_var()}) {
      float* values = t->data();
      for (int64_t i = 0; i < t->numel(); ++i) values[i] = static_cast<float>(sums[at++] * inverse);
    }
  }
}

ReplicaHashes replica_hashes(const Module& model, const std::vector<Optimizer*>& optimizers) {
  ReplicaHashes h;
  for (const Parameter& p : model.parameters())
    h.part[0] = hash_tensor(h.part[0], p.name, p.tensor);
  for (const NamedTensor& b : model.buffers()) h.part[1] = hash_tensor(h.part[1], b.name, b.tensor);
  for (const Optimizer* o : optimizers) {
    for (const NamedTensor& s : o->state()) h.part[2] = hash_tensor(h.part[2], s.name, s.tensor);
    for (const NamedBlob& b : o->blob_state()) {
      h.part[3] = hash_bytes(h.part[3], b.name.data(), b.name.size());
      h.part[3] = hash_bytes(h.part[3], b.bytes.data(), b.bytes.size());
    }
  }
  return h;
}

void check_replicas_agree(const Module& model, const std::vector<Optimizer*>& optimizers,
                          Communicator& ranks, const std::string& when) {
  if (!ranks.distributed()) return;
  const ReplicaHashes mine = replica_hashes(model, optimizers);
  std::string differences;
  for (int k = 0; k < ReplicaHashes::kParts; ++k) {
    const std::vector<uint64_t> all = ranks.allgather(mine.part[k], "the replicas' hash check");
    bool same = true;
    for (uint64_t h : all) same = same && h == all.front();
    if (same) continue;
    differences += differences.empty() ? "" : "; ";
    differences += kPartNames[k];
    differences += ":";
    for (size_t r = 0; r < all.size(); ++r) {
      char hex[24];
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(all[r]));
      differences += concat(r == 0 ? " rank " : ", rank ", r, " ", hex);
    }
  }
  if (!differences.empty())
    throw CollectiveError(concat(when, ", the ranks' states differ (", differences,
                                 "): they no longer train one model"));
}

}  // namespace lowbit
