// Walking a model tree: every module with its dotted path ("layer1.1.conv1"), for the model
// transformations (BN folding, calibration, depthwise rescaling) that trace a forward pass and must
// name what they found.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>

#include "layers/module.h"

namespace lowbit {

// The dotted path of child `name` of the module at `parent` ("" is the root).
inline std::string child_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

// The dotted path of every module under `root` ("" for the root itself).
inline std::unordered_map<const Module*, std::string> module_paths(const Module& root) {
  std::unordered_map<const Module*, std::string> paths;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m,
                                                                    const std::string& prefix) {
    paths.emplace(&m, prefix);
    for (const auto& [name, child] : m.children()) walk(*child, child_path(prefix, name));
  };
  walk(root, "");
  return paths;
}

// Where a module is registered: its parent and its local name there.
struct ModuleSlot {
  Module* parent = nullptr;
  std::string name;
};

// The slot of every module under `root` (the root itself has none). A module registered in two
// places keeps the first one found (parents first, in registration order).
inline std::unordered_map<const Module*, ModuleSlot> module_slots(Module& root) {
  std::unordered_map<const Module*, ModuleSlot> slots;
  std::function<void(Module&)> walk = [&](Module& m) {
    for (const auto& [name, child] : m.children()) {
      slots.emplace(child.get(), ModuleSlot{&m, name});
      walk(*child);
    }
  };
  walk(root);
  return slots;
}

// Calls f on `root` and every descendant, parents first, in registration order.
inline void for_each_module(Module& root, const std::function<void(Module&)>& f) {
  f(root);
  for (const auto& child : root.children()) for_each_module(*child.second, f);
}

}  // namespace lowbit
