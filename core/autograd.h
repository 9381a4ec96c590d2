// Reverse-mode automatic differentiation: recording ops, the no-grad guard, backward().
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/node.h"
#include "core/tensor.h"

namespace lowbit {

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

// Disables graph recording on this thread while alive (evaluation, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op on these inputs must be recorded.
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `out` as produced by op `name` from `inputs` when any input needs a gradient;
// otherwise does nothing. `backward` reads out.grad() and adds into the inputs' grad().
void record(const Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

// Runs backward from `root`. A one-element root is seeded with dL/droot = 1; any other
// root needs `seed` (same shape). Nodes run in reverse topological order (iterative, so
// depth is unlimited), and the graph is dropped as it goes: intermediate gradients and
// nodes are freed, leaves keep their accumulated gradients.
void backward(const Tensor& root, const Tensor& seed = Tensor());
// The same, calling leaf_ready(leaf) for every leaf that needs a gradient (a trainable tensor with
// no node) as soon as its gradient is final: right after the last node that reads it has run.
// Data-parallel training starts summing a bucket of gradients over the ranks from there while the
// rest of the backward pass runs (core/distributed/gradient_allreduce.h).
using LeafReadyFn = std::function<void(const Tensor& leaf)>;
void backward(const Tensor& root, const Tensor& seed, const LeafReadyFn& leaf_ready);

// Per-op timing for profiles (bench/step_profile). While installed on this thread,
// record() reports every op as it finishes its forward (the time between two reports is
// the op's forward) and backward() reports each node's backward wall time.
class OpProfiler {
 public:
  virtual ~OpProfiler() = default;
  virtual void on_forward(const char* name, const Tensor& out) = 0;
  virtual void on_backward(const char* name, const Shape& out_shape, double seconds) = 0;
};
// Installs `profiler` on this thread (null removes it); returns the previous one.
OpProfiler* set_op_profiler(OpProfiler* profiler);

}  // namespace lowbit
