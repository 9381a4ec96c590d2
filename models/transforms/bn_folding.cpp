// BN folding (FAT eq. 10-11): the per-layer fold in double precision, the exact-identity BN, and
// the model-wide pass that finds (Conv2d | Linear) -> BatchNorm pairs by tracing one eval forward.
#include "models/transforms/bn_folding.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/identity.h"
#include "models/module_paths.h"

namespace lowbit {

double batch_norm_scale(const BatchNorm& bn, int64_t c) {
  const double gamma = bn.weight().defined() ? bn.weight().data()[c] : 1.0;
  return gamma / std::sqrt(static_cast<double>(bn.running_var().data()[c] + bn.eps()));
}

namespace {

// W[c, ...] *= s_c, b_c = beta_c + s_c (b_c - mu_c), s_c = gamma_c / sqrt(var_c + eps).
void fold_rows(const Tensor& weight, const Tensor& bias, const BatchNorm& bn, const char* layer) {
  const int64_t c = weight.size(0);
  LOWBIT_CHECK(bn.channels() == c, "fold_batch_norm: ", layer, " has ", c,
               " outputs but the BatchNorm has ", bn.channels(), " channels; expected the same");
  const int64_t row = weight.numel() / c;
  float* w = weight.data();
  float* b = bias.data();
  const float* mean = bn.running_mean().data();
  for (int64_t o = 0; o < c; ++o) {
    const double beta = bn.bias().defined() ? bn.bias().data()[o] : 0.0;
    const double s = batch_norm_scale(bn, o);
    for (int64_t i = 0; i < row; ++i)
      w[o * row + i] = static_cast<float>(s * w[o * row + i]);                    // eq. 10
    b[o] = static_cast<float>(beta + s * (static_cast<double>(b[o]) - mean[o]));  // eq. 11
  }
}

void check_no_weight_quantizer(const std::shared_ptr<Quantizer>& q, const char* layer) {
  LOWBIT_CHECK(q == nullptr, "fold_batch_norm: the ", layer, " has a weight quantizer (",
               q ? q->describe() : "",
               "); expected BN folding before quantizers are attached (folding changes the weights "
               "they were calibrated on)");
}

struct Call {
  Module* module;
  Tensor in, out;  // held, so that no TensorImpl address is reused during the trace
};

bool is_layer(const Module* m) {
  return dynamic_cast<const Conv2d*>(m) || dynamic_cast<const Linear*>(m);
}
// Calls that consume a tensor as computation: leaves and layers (a layer with quantizers has
// children), not containers, whose input only passes through to their first child, nor an Identity
// (what a fold left), whose output is its input.
bool is_consumer(const Module* m) {
  return (m->children().empty() || is_layer(m)) && !dynamic_cast<const Identity*>(m);
}

Tensor eval_output(Module& model, const Tensor& sample) {
  NoGradGuard no_grad;
  return model(sample);
}

}  // namespace

void fold_batch_norm(Conv2d& conv, const BatchNorm& bn) {
  check_no_weight_quantizer(conv.weight_quantizer(), "Conv2d");
  fold_rows(conv.weight(), conv.add_bias(), bn, "Conv2d");
}

void fold_batch_norm(Linear& linear, const BatchNorm& bn) {
  check_no_weight_quantizer(linear.weight_quantizer(), "Linear");
  fold_rows(linear.weight(), linear.add_bias(), bn, "Linear");
}

BnFoldReport fold_batch_norms(Module& model, const Tensor& sample) {
  model.eval();
  std::vector<Call> calls;
  Tensor before;
  {
    ObserveForward observe([&](const Module& m, const Tensor& in, const Tensor& out) {
      calls.push_back(
          Call{const_cast<Module*>(&m), in, out});  // the observer reports the module being run
    });
    before = eval_output(model, sample);
  }
  // Who produced each tensor (the innermost call reports first, so the first producer is the leaf)
  // and how many consuming calls read it.
  std::unordered_map<const TensorImpl*, Module*> producer;
  std::unordered_map<const TensorImpl*, int> consumers;
  std::unordered_map<const Module*, int> times_called;
  for (const Call& c : calls) {
    producer.emplace(c.out.impl(), c.module);
    if (is_consumer(c.module)) ++consumers[c.in.impl()];
    ++times_called[c.module];
  }
  const std::unordered_map<const Module*, std::string> names = module_paths(model);
  const std::unordered_map<const Module*, ModuleSlot> slots = module_slots(model);

  struct Pair {
    Module* layer;
    BatchNorm* bn;
  };
  std::vector<Pair> pairs;
  BnFoldReport report;
  for (const Call& c : calls) {
    auto* bn = dynamic_cast<BatchNorm*>(c.module);
    if (!bn) continue;
    const auto it = producer.find(c.in.impl());
    Module* layer = it == producer.end() ? nullptr : it->second;
    // Foldable: fed by a layer whose output nothing else reads, each called once (no shared
    // weights), and the BN a registered child that an Identity can replace.
    if (!layer || !is_layer(layer) || consumers[c.in.impl()] != 1 || times_called[layer] != 1 ||
        times_called[bn] != 1 || slots.count(bn) == 0) {
      report.unfolded.push_back(names.count(bn) ? names.at(bn) : "?");
      continue;
    }
    if (auto* conv = dynamic_cast<Conv2d*>(layer))
      check_no_weight_quantizer(conv->weight_quantizer(), "Conv2d");
    if (auto* fc = dynamic_cast<Linear*>(layer))
      check_no_weight_quantizer(fc->weight_quantizer(), "Linear");
    pairs.push_back(Pair{layer, bn});
  }
  calls.clear();
  std::unordered_map<const Module*, std::string> folded_names;
  for (const Pair& p : pairs) {
    if (auto* conv = dynamic_cast<Conv2d*>(p.layer)) {
      fold_batch_norm(*conv, *p.bn);
    } else {
      fold_batch_norm(*dynamic_cast<Linear*>(p.layer), *p.bn);
    }
    folded_names.emplace(p.bn, names.at(p.bn));
  }
  // The BNs leave the tree (held here until the check below, so that no address is reused).
  std::vector<std::shared_ptr<Module>> removed;
  for (const Pair& p : pairs) {
    const ModuleSlot& slot = slots.at(p.bn);
    for (const auto& entry : slot.parent->children())
      if (entry.first == slot.name) removed.push_back(entry.second);
    slot.parent->replace_child(slot.name, std::make_shared<Identity>());
  }
  report.folded = static_cast<int64_t>(pairs.size());

  Tensor after;
  std::string still_called;
  {
    ObserveForward observe([&](const Module& m, const Tensor&, const Tensor&) {
      const auto it = folded_names.find(&m);
      if (it != folded_names.end() && still_called.empty()) still_called = it->second;
    });
    after = eval_output(model, sample);
  }
  LOWBIT_CHECK(still_called.empty(), "fold_batch_norms: the folded BatchNorm '", still_called,
               "' is still called after its replacement by an Identity; expected its parent to "
               "call its children "
               "through Module::child (it keeps a pointer of its own)");
  const float* a = before.data();
  const float* b = after.data();
  for (int64_t i = 0; i < before.numel(); ++i) {
    report.max_abs_output = std::max(report.max_abs_output, std::fabs(static_cast<double>(a[i])));
    report.max_abs_difference =
        std::max(report.max_abs_difference, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  LOWBIT_CHECK(report.max_abs_difference <= 1e-3 * std::max(report.max_abs_output, 1e-30),
               "fold_batch_norms: the folded model's outputs differ from the unfolded ones by ",
               report.max_abs_difference, " (output scale ", report.max_abs_output,
               "); expected float rounding only: a folded layer's output "
               "probably also feeds an op that is not a module call");
  return report;
}

}  // namespace lowbit
