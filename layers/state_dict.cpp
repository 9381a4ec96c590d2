// state_dict / load_state_dict.
#include "layers/state_dict.h"

#include <unordered_map>

#include "core/check.h"

namespace lowbit {
namespace {

std::vector<NamedTensor> live_entries(const Module& module) {
  std::vector<NamedTensor> entries;
  for (const Parameter& p : module.parameters()) entries.push_back({p.name, p.tensor});
  for (const NamedTensor& b : module.buffers()) entries.push_back(b);
  return entries;
}

}  // namespace

std::vector<NamedTensor> state_dict(const Module& module, const std::string& prefix) {
  std::vector<NamedTensor> out;
  for (const NamedTensor& e : live_entries(module))
    out.push_back({prefix + e.name, e.tensor.clone()});
  return out;
}

void load_state_dict(Module& module, const std::vector<NamedTensor>& state,
                     const std::string& prefix) {
  std::unordered_map<std::string, const Tensor*> by_name;
  for (const NamedTensor& s : state) by_name[s.name] = &s.tensor;
  for (const NamedTensor& e : live_entries(module)) {
    auto it = by_name.find(prefix + e.name);
    LOWBIT_CHECK(it != by_name.end(), "state has no entry '", prefix + e.name,
                 "' (the model does not match)");
    LOWBIT_CHECK(it->second->shape() == e.tensor.shape(), "state entry '", prefix + e.name,
                 "' has shape ", it->second->shape().str(), ", the model expects ",
                 e.tensor.shape().str());
    e.tensor.copy_from(*it->second);
  }
}

}  // namespace lowbit
