// GraphModel: steps run in the order they were added, which is a topological order because a
// step can only name values that already exist.
#include "models/graph_model.h"

#include "core/check.h"
#include "layers/concatenate.h"
#include "layers/elementwise.h"

namespace lowbit {

void GraphModel::check_value(Value v, const char* what) const {
  LOWBIT_CHECK(v >= 0 && v <= static_cast<Value>(steps_.size()), "GraphModel: ", what, " value ", v,
               " does not exist; expected 0 (the input) to ", steps_.size());
}

GraphModel::Value GraphModel::add_step(Step step) {
  step.output = static_cast<Value>(steps_.size()) + 1;
  steps_.push_back(std::move(step));
  output_ = steps_.back().output;
  return output_;
}

GraphModel::Value GraphModel::add_module(const std::string& name, std::shared_ptr<Module> module,
                                         Value x) {
  check_value(x, "the input");
  LOWBIT_CHECK(!name.empty() && name.find('.') == std::string::npos, "GraphModel: layer name '",
               name, "'; expected a non-empty name without '.'");
  for (const auto& existing : children())
    LOWBIT_CHECK(existing.first != name, "GraphModel: two layers named '", name,
                 "'; expected unique names");
  register_module(name, std::move(module));
  Step step;
  step.kind = Step::Kind::kModule;
  step.module = name;
  step.inputs = {x};
  return add_step(std::move(step));
}

GraphModel::Value GraphModel::add_sum(Value a, Value b) {
  check_value(a, "a summand");
  check_value(b, "a summand");
  Step step;
  step.kind = Step::Kind::kSum;
  step.inputs = {a, b};
  return add_step(std::move(step));
}

GraphModel::Value GraphModel::add_concat(std::vector<Value> xs, int axis) {
  LOWBIT_CHECK(!xs.empty(), "GraphModel: a concatenation of nothing; expected at least one value");
  for (Value v : xs) check_value(v, "a concatenated");
  Step step;
  step.kind = Step::Kind::kConcat;
  step.inputs = std::move(xs);
  step.axis = axis;
  return add_step(std::move(step));
}

void GraphModel::set_output(Value value) {
  check_value(value, "the output");
  output_ = value;
}

Tensor GraphModel::forward(const Tensor& x) {
  // Each value is released after its last use, so a deep graph holds only what is still needed.
  std::vector<int> uses(steps_.size() + 1, 0);
  for (const Step& s : steps_)
    for (Value v : s.inputs) ++uses[v];
  ++uses[output_];
  std::vector<Tensor> values(steps_.size() + 1);
  values[kInput] = x;
  auto take = [&](Value v) {
    Tensor t = values[v];
    if (--uses[v] == 0) values[v] = Tensor();
    return t;
  };
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Step::Kind::kModule:
        values[s.output] = child(s.module)(take(s.inputs[0]));
        break;
      case Step::Kind::kSum: {
        Tensor a = take(s.inputs[0]);
        values[s.output] = add(a, take(s.inputs[1]));
        break;
      }
      case Step::Kind::kConcat: {
        std::vector<Tensor> xs;
        for (Value v : s.inputs) xs.push_back(take(v));
        values[s.output] = concatenate(xs, s.axis);
        break;
      }
    }
  }
  return values[output_];
}

}  // namespace lowbit
