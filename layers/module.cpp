// Module tree: registration, dotted-name traversal, mode switching.
#include "layers/module.h"

#include "core/check.h"

namespace lowbit {
namespace {

void check_local_name(const std::string& name) {
  LOWBIT_CHECK(!name.empty() && name.find('.') == std::string::npos, "module member name '", name,
               "' is invalid: expected a non-empty name without dots");
}

thread_local ForwardObserver* g_observer = nullptr;

}  // namespace

ObserveForward::ObserveForward(ForwardObserver observer)
    : observer_(std::move(observer)), previous_(g_observer) {
  g_observer = &observer_;
}

ObserveForward::~ObserveForward() { g_observer = previous_; }

Tensor Module::operator()(const Tensor& x) {
  Tensor y = forward(x);
  if (g_observer) (*g_observer)(*this, x, y);
  return y;
}

Tensor Module::register_parameter(const std::string& name, ParamRole role, Tensor tensor) {
  check_local_name(name);
  tensor.set_requires_grad(true);
  parameters_.push_back(Parameter{name, role, tensor});
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  check_local_name(name);
  buffers_.push_back(NamedTensor{name, tensor});
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_local_name(name);
  LOWBIT_CHECK(module != nullptr, "register_module: child '", name, "' is null");
  children_.emplace_back(name, std::move(module));
}

Module& Module::child(const std::string& name) const {
  for (const auto& [child_name, module] : children_)
    if (child_name == name) return *module;
  std::string known;
  for (const auto& entry : children_) known += (known.empty() ? "" : ", ") + entry.first;
  throw Error(concat("module ", type_name(), " has no child '", name,
                     "'; its children: ", known.empty() ? "none" : known));
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> module) {
  LOWBIT_CHECK(module != nullptr, "replace_child: the replacement for '", name,
               "' is null; expected a module");
  for (auto& entry : children_) {
    if (entry.first != name) continue;
    module->train(training_);
    entry.second = std::move(module);
    return;
  }
  child(name);  // throws, listing the children
}

void Module::collect_parameters(const std::string& prefix, std::vector<Parameter>& out) const {
  for (const Parameter& p : parameters_)
    out.push_back(Parameter{prefix + p.name, p.role, p.tensor});
  for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

void Module::collect_buffers(const std::string& prefix, std::vector<NamedTensor>& out) const {
  for (const NamedTensor& b : buffers_) out.push_back(NamedTensor{prefix + b.name, b.tensor});
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

std::vector<Parameter> Module::parameters() const {
  std::vector<Parameter> out;
  collect_parameters("", out);
  return out;
}

std::vector<NamedTensor> Module::buffers() const {
  std::vector<NamedTensor> out;
  collect_buffers("", out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

void Module::zero_grad() const {
  for (const Parameter& p : parameters()) p.tensor.zero_grad();
}

}  // namespace lowbit
