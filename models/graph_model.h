// GraphModel: a model as a directed acyclic graph of lowbit modules joined by sums and
// concatenations, the form an imported ONNX file takes. Every layer is a registered child called
// through Module::child, so summaries, BN folding, calibration and PTQ trace it as they trace the
// zoo's models; only the joins (add, concat) are functional ops between module calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lowbit {

class GraphModel : public Module {
 public:
  // A value is an id: 0 is the model's input, each added step makes a new one.
  using Value = int;
  static constexpr Value kInput = 0;

  // y = module(x); `name` becomes its child name (unique, with no '.'), e.g. "conv1".
  Value add_module(const std::string& name, std::shared_ptr<Module> module, Value x);
  // y = a + b (same shapes).
  Value add_sum(Value a, Value b);
  // y = concat(xs, axis).
  Value add_concat(std::vector<Value> xs, int axis);
  // The value forward returns; the last step's value until set.
  void set_output(Value value);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Graph"; }

  struct Step {
    enum class Kind { kModule, kSum, kConcat };
    Kind kind = Kind::kModule;
    std::string module;         // kModule: the child's name
    std::vector<Value> inputs;  // kModule: one; kSum: two; kConcat: any number
    int axis = 1;               // kConcat
    Value output = 0;
  };
  const std::vector<Step>& steps() const { return steps_; }
  Value output() const { return output_; }

 private:
  Value add_step(Step step);
  void check_value(Value v, const char* what) const;

  std::vector<Step> steps_;
  Value output_ = kInput;
};

}  // namespace lowbit
