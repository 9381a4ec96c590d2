// The activation a model places after each BN: float ReLU or the power-of-two activation
// (Long et al. 2020, eq. 2-7), chosen by ModelOptions::activation and built by composition.
#pragma once

#include <memory>
#include <string>

#include "layers/module.h"
#include "models/model_options.h"

namespace lowbit {

// kRelu -> ReLU; kPow2 -> the signed Pow2Activation; kReluPow2 -> the unsigned Pow2Activation
// (ReLU and the quantizer in one module: x < 0 -> 0 with slope 0, as ReLU). Throws
// lowbit::Error for bits or q2 out of range.
std::shared_ptr<Module> make_activation(const ActivationSpec& spec);

// "relu", "pow2", "relu-pow2"; anything else is a lowbit::Error listing these.
ActivationSpec::Kind parse_activation_kind(const std::string& name);
// The inverse of parse_activation_kind (for printing a configuration).
const char* activation_kind_name(ActivationSpec::Kind kind);

}  // namespace lowbit
