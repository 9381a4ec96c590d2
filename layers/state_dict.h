// A module's state as named tensors (parameters, then buffers), for checkpoints: saving
// copies values out, loading checks every name and shape and copies values in.
#pragma once

#include <string>
#include <vector>

#include "core/named_tensor.h"
#include "layers/module.h"

namespace lowbit {

// Copies of every parameter and buffer, named "<prefix><dotted name>".
std::vector<NamedTensor> state_dict(const Module& module, const std::string& prefix = "");
// Loads the values saved by state_dict. Every entry of the module must be present with
// the same shape; the error names the first missing or mismatched one.
void load_state_dict(Module& module, const std::vector<NamedTensor>& state,
                     const std::string& prefix = "");

}  // namespace lowbit
