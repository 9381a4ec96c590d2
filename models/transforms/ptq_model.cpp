// Whole-model post-training quantization: which tensors, at which granularity, and the
// snapshot that lets a sweep start every cell from the same float model.
#include "models/transforms/ptq_model.h"

#include <algorithm>

#include "core/check.h"

namespace lowbit {

PtqBn parse_ptq_bn(const std::string& name) {
  if (name == "none") return PtqBn::kNone;
  if (name == "affine") return PtqBn::kAffine;
  if (name == "all") return PtqBn::kAll;
  throw Error(concat("unknown batch-norm choice '", name, "'; expected none, affine or all"));
}

const char* ptq_bn_name(PtqBn bn) {
  switch (bn) {
    case PtqBn::kNone:
      return "none";
    case PtqBn::kAffine:
      return "affine";
    case PtqBn::kAll:
      return "all";
  }
  return "?";
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<ModelTensor> model_tensors(const Module& model) {
  std::vector<ModelTensor> out;
  for (const Parameter& p : model.parameters())
    out.push_back(ModelTensor{p.name, p.role, p.tensor});
  for (const NamedTensor& b : model.buffers())
    out.push_back(ModelTensor{b.name, std::nullopt, b.tensor});
  return out;
}

bool is_kernel(const ModelTensor& m) {
  return m.role == ParamRole::kWeight && (m.tensor.rank() == 2 || m.tensor.rank() == 4);
}

bool is_running_statistic(const ModelTensor& m) {
  return !m.role && (ends_with(m.name, "running_mean") || ends_with(m.name, "running_var"));
}

bool ptq_quantizes(const ModelTensor& m, const PtqTargets& t) {
  if (!m.role) return t.bn == PtqBn::kAll && is_running_statistic(m);
  switch (*m.role) {
    case ParamRole::kWeight:
      return is_kernel(m);
    case ParamRole::kBias:
      return t.biases;
    case ParamRole::kNormScale:
    case ParamRole::kNormShift:
      return t.bn != PtqBn::kNone;
    case ParamRole::kQuantScale:
      return false;
  }
  return false;
}

int64_t distinct_values(const float* x, int64_t n) {
  std::vector<float> v(x, x + n);
  std::sort(v.begin(), v.end());
  return std::unique(v.begin(), v.end()) - v.begin();
}

PtqModelResult ptq_quantize_model(Module& model, const PtqSpec& spec, const PtqTargets& targets) {
  validate(spec);
  PtqModelResult result{spec, targets, {}};
  for (const ModelTensor& m : model_tensors(model)) {
    if (!ptq_quantizes(m, targets) || m.tensor.numel() == 0) continue;
    PtqTensor t;
    t.name = m.name;
    t.role = m.role;
    t.shape = m.tensor.shape();
    const int64_t n = m.tensor.numel();
    // Per channel means per output channel (dim 0) of a kernel; a 1-D tensor keeps one grid.
    const int64_t channels =
        spec.granularity == Granularity::kVector && m.tensor.rank() >= 2 ? m.tensor.size(0) : 1;
    t.codes.resize(static_cast<size_t>(n));
    float* data = m.tensor.data();
    t.grids =
        ptq_quantize(data, channels, n / channels, spec.scheme, spec.bits, data, t.codes.data());
    for (const PtqGrid& g : t.grids) t.bits = std::max(t.bits, g.bits);
    t.distinct_values = distinct_values(data, n);
    result.tensors.push_back(std::move(t));
  }
  return result;
}

ModelSnapshot::ModelSnapshot(const Module& model) {
  for (const ModelTensor& m : model_tensors(model)) {
    live_.push_back(m.tensor);
    saved_.push_back(m.tensor.clone());
  }
}

void ModelSnapshot::restore() const {
  for (size_t i = 0; i < live_.size(); ++i) live_[i].copy_from(saved_[i]);
}

}  // namespace lowbit
