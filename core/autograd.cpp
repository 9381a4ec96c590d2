// backward(): iterative topological sort, reverse execution, and freeing the graph.
#include "core/autograd.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/check.h"

namespace lowbit {
namespace {
thread_local bool g_grad_enabled = true;
thread_local OpProfiler* g_profiler = nullptr;
}  // namespace

OpProfiler* set_op_profiler(OpProfiler* profiler) {
  OpProfiler* previous = g_profiler;
  g_profiler = profiler;
  return previous;
}

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs) {
    if (t.requires_grad()) return true;
  }
  return false;
}

void record(const Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (g_profiler) g_profiler->on_forward(name, out);
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl()->requires_grad = true;
  out.impl()->node = std::move(node);
}

void backward(const Tensor& root, const Tensor& seed) { backward(root, seed, LeafReadyFn()); }

void backward(const Tensor& root, const Tensor& seed, const LeafReadyFn& leaf_ready) {
  LOWBIT_CHECK(root.defined(), "backward: undefined root tensor");
  LOWBIT_CHECK(root.requires_grad(),
               "backward: the root tensor does not require a gradient (no trainable input)");
  if (seed.defined()) {
    LOWBIT_CHECK(seed.shape() == root.shape(), "backward: seed shape ", seed.shape().str(),
                 " does not match root shape ", root.shape().str());
  } else {
    LOWBIT_CHECK(root.numel() == 1, "backward: root of shape ", root.shape().str(),
                 " needs a seed gradient (only one-element roots are seeded with 1)");
  }

  // Iterative depth-first post-order over the tensors that have a node.
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> visited;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack;
  if (root.node()) {
    stack.emplace_back(root.impl_ptr(), 0);
    visited.insert(root.impl());
  }
  while (!stack.empty()) {
    auto& [impl, next_input] = stack.back();
    const auto& inputs = impl->node->inputs;
    if (next_input < inputs.size()) {
      const Tensor& input = inputs[next_input++];
      TensorImpl* child = input.impl();
      if (child && child->node && visited.insert(child).second) {
        stack.emplace_back(input.impl_ptr(), 0);
      }
    } else {
      order.push_back(impl);
      stack.pop_back();
    }
  }

  if (seed.defined() && !root.has_grad()) {
    // A fresh root gradient is the seed itself: one copy instead of zero-fill plus add.
    root.impl()->grad = std::make_shared<Storage>(static_cast<size_t>(root.numel()));
    std::memcpy(root.impl()->grad->data(), seed.data(),
                sizeof(float) * static_cast<size_t>(root.numel()));
  } else if (seed.defined()) {
    float* root_grad = root.grad();
    const float* s = seed.data();
    for (int64_t i = 0; i < root.numel(); ++i) root_grad[i] += s[i];
  } else {
    root.grad()[0] += 1.0f;
  }

  // With leaf_ready: how many reads of each trainable leaf are still to run (a node that reads a
  // leaf twice counts twice). Counted before the nodes are dropped, while leaves are still the
  // tensors without a node.
  std::unordered_map<TensorImpl*, int64_t> unread;
  if (leaf_ready) {
    for (const auto& impl : order) {
      for (const Tensor& input : impl->node->inputs) {
        if (input.impl() && !input.impl()->node && input.requires_grad()) ++unread[input.impl()];
      }
    }
  }

  // Reverse post-order is a topological order from the root towards the leaves.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    std::shared_ptr<TensorImpl>& impl = *it;
    std::shared_ptr<Node> node = std::move(impl->node);  // drops the graph as it goes
    if (impl->grad) {
      if (g_profiler) {
        const auto t0 = std::chrono::steady_clock::now();
        node->backward(Tensor(impl));
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        g_profiler->on_backward(node->name.c_str(), impl->shape, dt.count());
      } else {
        node->backward(Tensor(impl));
      }
    }
    impl->grad.reset();           // an intermediate gradient is not needed once consumed
    impl->requires_grad = false;  // its history is gone: it now reads as a constant
    impl.reset();
    if (!leaf_ready) continue;
    for (const Tensor& input : node->inputs) {
      const auto found = unread.find(input.impl());
      if (found != unread.end() && --found->second == 0) leaf_ready(input);
    }
  }
}

}  // namespace lowbit
