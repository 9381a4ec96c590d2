// Batch-norm re-estimation with cumulative averaging (momentum 1/k).
#include "apps/train/bn_recalibration.h"

#include <functional>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/batch_norm.h"

namespace lowbit {

int64_t recalibrate_batch_norm(Module& model, BatchLoader& loader, int64_t max_batches) {
  LOWBIT_CHECK(max_batches >= 1, "recalibrate_batch_norm: max_batches ", max_batches,
               " must be >= 1");
  std::vector<BatchNorm*> norms;
  std::function<void(Module&)> collect = [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&m)) norms.push_back(bn);
    for (const auto& child : m.children()) collect(*child.second);
  };
  collect(model);
  if (norms.empty()) return 0;
  std::vector<float> momenta;
  for (BatchNorm* bn : norms) momenta.push_back(bn->momentum());
  const ModeGuard mode(model, false);
  for (BatchNorm* bn : norms) bn->train(true);
  NoGradGuard no_grad;
  loader.start_epoch(0);
  Batch batch;
  int64_t used = 0;
  while (used < max_batches && loader.next(batch)) {
    // A sharded loader (data parallelism): a batch that would give a rank fewer than two images
    // gives no variance there; every rank skips it alike.
    if (loader.shards() > 1 && batch.global_size < 2 * loader.shards()) continue;
    ++used;
    for (BatchNorm* bn : norms) bn->set_momentum(1.0f / static_cast<float>(used));
    model(batch.images);
  }
  for (size_t i = 0; i < norms.size(); ++i) norms[i]->set_momentum(momenta[i]);
  return used;
}

}  // namespace lowbit
