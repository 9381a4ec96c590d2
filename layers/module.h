// Module: a node of the model tree that owns parameters, buffers (running statistics)
// and child modules, with dotted names ("layer1.0.conv1.weight") and train/eval mode.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/named_tensor.h"
#include "core/parameter.h"
#include "core/tensor.h"

namespace lowbit {

class Module;

// Sees every module call (module, input, output) while installed on a thread.
using ForwardObserver = std::function<void(const Module&, const Tensor& in, const Tensor& out)>;

// Installs `observer` on this thread for its lifetime (restoring the previous one after).
class ObserveForward {
 public:
  explicit ObserveForward(ForwardObserver observer);
  ~ObserveForward();
  ObserveForward(const ObserveForward&) = delete;
  ObserveForward& operator=(const ObserveForward&) = delete;

 private:
  ForwardObserver observer_;
  ForwardObserver* previous_;
};

class Module {
 public:
  virtual ~Module() = default;

  virtual Tensor forward(const Tensor& x) = 0;
  // Runs forward and reports the call to this thread's ForwardObserver, if any (model
  // summaries use it). Composite modules call their children through this operator.
  Tensor operator()(const Tensor& x);
  // The layer type as users know it ("Conv2d", "BatchNorm"), for summaries and errors.
  virtual std::string type_name() const = 0;

  // Every parameter of this module and its descendants, in registration order.
  std::vector<Parameter> parameters() const;
  // Every buffer (non-trained state such as running statistics), likewise.
  std::vector<NamedTensor> buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  // The registered child `name`; throws lowbit::Error listing the children when there is none.
  // Composite modules call their children through it (child("bn1")(x)) rather than through
  // pointers of their own, so that replace_child takes effect.
  Module& child(const std::string& name) const;
  // Puts `module` in the place of the registered child `name` (same name, same position, so the
  // dotted names of everything else stay as they were) and sets it to this module's mode. Model
  // transformations use it (BN folding replaces each folded BatchNorm by an Identity). A parent
  // that keeps its own pointer to a child and calls that pointer would not see the replacement:
  // such callers check by tracing that the old child is no longer called. Throws lowbit::Error
  // when there is no child `name` or `module` is null.
  void replace_child(const std::string& name, std::shared_ptr<Module> module);

  // Training mode (batch statistics, dropout active) for this module and its descendants.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Sets every parameter's gradient to zero.
  void zero_grad() const;

 protected:
  // Marks `tensor` trainable and registers it under `name`; returns the handle.
  Tensor register_parameter(const std::string& name, ParamRole role, Tensor tensor);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect_parameters(const std::string& prefix, std::vector<Parameter>& out) const;
  void collect_buffers(const std::string& prefix, std::vector<NamedTensor>& out) const;

  std::vector<Parameter> parameters_;  // local names
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Puts a module (and its descendants) in training or evaluation mode for a scope, and gives it back
// the mode it had when the scope ends, also when an exception leaves the scope.
class ModeGuard {
 public:
  ModeGuard(Module& module, bool training) : module_(module), was_training_(module.is_training()) {
    module.train(training);
  }
  ~ModeGuard() { module_.train(was_training_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  Module& module_;
  bool was_training_;
};

}  // namespace lowbit
