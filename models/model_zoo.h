// The one table that names every model. An unknown name is an error listing the known ones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model_options.h"

namespace lowbit {

struct ModelEntry {
  std::string name;
  std::string description;
  std::shared_ptr<Module> (*build)(const ModelOptions&, Rng&);
};

const std::vector<ModelEntry>& model_table();
std::vector<std::string> model_names();
// The entry named `name`; throws lowbit::Error listing the known names for an unknown one.
const ModelEntry& model_entry(const std::string& name);
// Builds `name` for the options; throws lowbit::Error for an unknown name.
std::shared_ptr<Module> make_model(const std::string& name, const ModelOptions& options, Rng& rng);

}  // namespace lowbit
