// Summary by tracing: the ForwardObserver records each leaf module call and each Conv2d and Linear
// call (a layer with quantizers has them as children, but is still one layer); MACs are counted
// for convolutions (C_out*H_out*W_out * C_in/groups*kh*kw) and linear layers (in*out).
#include "models/summary.h"

#include <cstdio>
#include <unordered_map>

#include "core/autograd.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace lowbit {
namespace {

void name_modules(const Module& m, const std::string& prefix,
                  std::unordered_map<const Module*, std::string>& names) {
  names[&m] = prefix;
  for (const auto& [name, child] : m.children()) {
    name_modules(*child, prefix.empty() ? name : prefix + "." + name, names);
  }
}

// Conv2d and Linear are layers whatever their children (their quantizers, which they call directly
// and the trace never sees).
bool is_layer(const Module& m) {
  return m.children().empty() || dynamic_cast<const Conv2d*>(&m) || dynamic_cast<const Linear*>(&m);
}

int64_t own_parameters(const Module& m) {
  int64_t n = 0;
  for (const Parameter& p : m.parameters()) n += p.tensor.numel();
  return n;
}

int64_t count_macs(const Module& m, const Tensor& out) {
  if (auto* conv = dynamic_cast<const Conv2d*>(&m)) {
    const Tensor& w = conv->weight();
    return out.numel() / out.size(0) * w.size(1) * w.size(2) * w.size(3);
  }
  if (auto* fc = dynamic_cast<const Linear*>(&m)) return fc->in_features() * fc->out_features();
  return 0;
}

std::string with_separators(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

}  // namespace

ModelSummary summarize(Module& model, int64_t channels, int64_t side) {
  std::unordered_map<const Module*, std::string> names;
  name_modules(model, "", names);
  ModelSummary summary;
  {
    const ModeGuard mode(model, false);
    NoGradGuard no_grad;
    ObserveForward observe([&](const Module& m, const Tensor&, const Tensor& out) {
      if (!is_layer(m)) return;
      std::vector<int64_t> dims = out.shape().dims();
      dims.erase(dims.begin());
      LayerSummary layer{names.count(&m) ? names[&m] : "?", m.type_name(), Shape(dims),
                         own_parameters(m), count_macs(m, out)};
      summary.macs += layer.macs;
      summary.layers.push_back(std::move(layer));
    });
    model(Tensor::zeros({1, channels, side, side}));
  }
  summary.parameters = own_parameters(model);
  return summary;
}

std::string format_summary(const ModelSummary& s) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-40s %-20s %-18s %12s %14s\n", "layer", "type", "output",
                "params", "MACs");
  out += line;
  for (const LayerSummary& l : s.layers) {
    std::snprintf(line, sizeof line, "%-40s %-20s %-18s %12s %14s\n", l.name.c_str(),
                  l.type.c_str(), l.output_shape.str().c_str(),
                  with_separators(l.parameters).c_str(), with_separators(l.macs).c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "total: %s parameters, %s MACs per image\n",
                with_separators(s.parameters).c_str(), with_separators(s.macs).c_str());
  return out + line;
}

}  // namespace lowbit
