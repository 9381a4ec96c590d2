// Activation choice: the table of activation names and the module each one builds.
#include "models/activation_choice.h"

#include "core/check.h"
#include "layers/activations.h"
#include "layers/quant/pow2_activation.h"

namespace lowbit {
namespace {

struct KindName {
  ActivationSpec::Kind kind;
  const char* name;
};

constexpr KindName kKinds[] = {
    {ActivationSpec::Kind::kRelu, "relu"},
    {ActivationSpec::Kind::kPow2, "pow2"},
    {ActivationSpec::Kind::kReluPow2, "relu-pow2"},
};

}  // namespace

std::shared_ptr<Module> make_activation(const ActivationSpec& spec) {
  switch (spec.kind) {
    case ActivationSpec::Kind::kRelu:
      return std::make_shared<ReLU>();
    case ActivationSpec::Kind::kPow2:
      return std::make_shared<Pow2Activation>(
          Pow2ActivationSpec{spec.bits, spec.q2, true, spec.backward, spec.scale});
    case ActivationSpec::Kind::kReluPow2:
      return std::make_shared<Pow2Activation>(
          Pow2ActivationSpec{spec.bits, spec.q2, false, spec.backward, spec.scale});
  }
  throw Error(concat("activation kind ", static_cast<int>(spec.kind), " is unknown"));
}

ActivationSpec::Kind parse_activation_kind(const std::string& name) {
  std::string known;
  for (const KindName& k : kKinds) {
    if (name == k.name) return k.kind;
    known += (known.empty() ? "" : ", ") + std::string(k.name);
  }
  throw Error(concat("unknown activation '", name, "'; known activations: ", known));
}

const char* activation_kind_name(ActivationSpec::Kind kind) {
  for (const KindName& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  throw Error(concat("activation kind ", static_cast<int>(kind), " is unknown"));
}

}  // namespace lowbit
