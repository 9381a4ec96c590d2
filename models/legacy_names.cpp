// The old module paths, derived from the structure of today's models, and the renaming of old
// checkpoint entries.
#include "models/legacy_names.h"

#include <utility>
#include <vector>

#include "layers/sequential.h"
#include "models/mobilenet_v2.h"
#include "models/module_paths.h"
#include "models/resnet.h"

namespace lowbit {
namespace {

using Unit = std::pair<std::string, const Module*>;  // path below the Sequential, module

// The children of a Sequential as the old flat Sequential numbered them: a Sequential child's own
// children take its place, in order (recursively).
void flat_units(const Module& sequential, const std::string& below, std::vector<Unit>& out) {
  for (const auto& [name, child] : sequential.children()) {
    if (dynamic_cast<const Sequential*>(child.get()) && !dynamic_cast<const ResNet*>(child.get())) {
      flat_units(*child, child_path(below, name), out);
    } else {
      out.emplace_back(child_path(below, name), child.get());
    }
  }
}

// The old name of child `name` of `parent`, where the old model named it differently.
std::string legacy_child_name(const Module& parent, const std::string& name) {
  if (dynamic_cast<const ResNet*>(&parent)) {
    if (name == "conv1") return "stem.0";
    if (name == "bn1") return "stem.1";
    if (name == "relu") return "stem.2";
    if (name == "avgpool") return "pool";
    if (name.compare(0, 5, "layer") == 0)
      return "stages." + std::to_string(std::stoi(name.substr(5)) - 1);
  }
  if ((dynamic_cast<const BasicBlock*>(&parent) || dynamic_cast<const Bottleneck*>(&parent)) &&
      name == "downsample")
    return "shortcut";
  if (dynamic_cast<const InvertedResidual*>(&parent) && name == "conv") return "body";
  return name;
}

void walk(const Module& m, const std::string& path, const std::string& old,
          std::map<std::string, std::string>& out) {
  if (!path.empty()) out[path] = old;
  if (dynamic_cast<const Sequential*>(&m) && !dynamic_cast<const ResNet*>(&m)) {
    std::vector<Unit> units;
    flat_units(m, "", units);
    for (size_t i = 0; i < units.size(); ++i)
      walk(*units[i].second, child_path(path, units[i].first), child_path(old, std::to_string(i)),
           out);
    return;
  }
  for (const auto& [name, child] : m.children())
    walk(*child, child_path(path, name), child_path(old, legacy_child_name(m, name)), out);
}

// Every entry name of `module` without the names of its children's entries.
std::vector<std::string> local_entries(const Module& module) {
  std::vector<std::string> names;
  for (const Parameter& p : module.parameters())
    if (p.name.find('.') == std::string::npos) names.push_back(p.name);
  for (const NamedTensor& b : module.buffers())
    if (b.name.find('.') == std::string::npos) names.push_back(b.name);
  return names;
}

// `name` with its longest dot-delimited suffix found in `renames` replaced, or unchanged.
std::string renamed(const std::string& name, const std::map<std::string, std::string>& renames) {
  for (size_t start = 0; start < name.size();) {
    const auto it = renames.find(name.substr(start));
    if (it != renames.end()) return name.substr(0, start) + it->second;
    const size_t dot = name.find('.', start);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return name;
}

std::string hint(const std::string& now, const std::string& before) {
  return "; the file has neither the model's layer names nor those of older checkpoints ('" + now +
         "', formerly '" + before + "')";
}

}  // namespace

std::map<std::string, std::string> legacy_module_paths(const Module& model) {
  std::map<std::string, std::string> paths;
  walk(model, "", "", paths);
  return paths;
}

std::map<std::string, std::string> legacy_entry_names(const Module& model) {
  std::map<std::string, std::string> old_paths = legacy_module_paths(model);
  old_paths[""] = "";
  std::map<std::string, std::string> names;
  for (const auto& [module, path] : module_paths(model)) {
    for (const std::string& entry : local_entries(*module)) {
      const std::string now = child_path(path, entry),
                        before = child_path(old_paths.at(path), entry);
      if (now != before) names[now] = before;
    }
  }
  return names;
}

EntryNaming rename_legacy_entries(Checkpoint& checkpoint, const Module& model,
                                  const std::string& prefix) {
  const std::map<std::string, std::string> old_of = legacy_entry_names(model);
  bool has_old = false, has_new = old_of.empty();
  for (const auto& [now, before] : old_of) {
    has_old = has_old || checkpoint.has_tensor(prefix + before);
    has_new = has_new || checkpoint.has_tensor(prefix + now);
  }
  if (has_new) return EntryNaming::kCurrent;
  if (!has_old) return EntryNaming::kNeither;
  std::map<std::string, std::string> new_of;
  for (const auto& [now, before] : old_of) new_of[before] = now;
  for (NamedTensor& t : checkpoint.tensors) t.name = renamed(t.name, new_of);
  for (NamedBlob& b : checkpoint.blobs) b.name = renamed(b.name, new_of);
  return EntryNaming::kLegacy;
}

std::string legacy_naming_hint(const Module& model) {
  const std::map<std::string, std::string> old_of = legacy_entry_names(model);
  if (old_of.empty()) return "";
  // The first entry in the model's order, not the map's alphabetical one.
  for (const Parameter& p : model.parameters()) {
    const auto it = old_of.find(p.name);
    if (it != old_of.end()) return hint(it->first, it->second);
  }
  return hint(old_of.begin()->first, old_of.begin()->second);
}

}  // namespace lowbit
