// Sequential: children applied in order, named "0", "1", ... as in PyTorch, or by the names the
// model gives them ("conv1", "features"), as a PyTorch model's attributes are.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);

  // Appends a module named by its position ("0", "1", ...); returns *this for chaining.
  Sequential& add(std::shared_ptr<Module> module);
  // Appends a module under `name` (no dots; throws lowbit::Error otherwise); returns *this.
  Sequential& add(const std::string& name, std::shared_ptr<Module> module);
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children().at(i).second; }

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
};

}  // namespace lowbit
