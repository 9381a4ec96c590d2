// Whole-model post-training quantization: which tensors, at which granularity, and the
// snapshot that lets a sweep start every cell from the same float model.
#include "models/transforms/ptq_model.h"

#include <algorithm>

#include "core/check.h"

namespace lowbit {

const char* ptq_kind_name(PtqTensorKind kind) {
  switch (kind) {
    case PtqTensorKind::kWeight:
      return "weight";
    case PtqTensorKind::kBias:
      return "bias";
    case PtqTensorKind::kNormScale:
      return "bn-scale";
    case PtqTensorKind::kNormShift:
      return "bn-shift";
    case PtqTensorKind::kRunningMean:
      return "bn-mean";
    case PtqTensorKind::kRunningVar:
      return "bn-var";
    case PtqTensorKind::kOther:
      return "other";
  }
  return "?";
}

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

PtqTensorKind kind_of(const Parameter& p) {
  switch (p.role) {
    case ParamRole::kWeight:
      return p.tensor.rank() == 2 || p.tensor.rank() == 4 ? PtqTensorKind::kWeight
                                                          : PtqTensorKind::kOther;
    case ParamRole::kBias:
      return PtqTensorKind::kBias;
    case ParamRole::kNormScale:
      return PtqTensorKind::kNormScale;
    case ParamRole::kNormShift:
      return PtqTensorKind::kNormShift;
    default:
      return PtqTensorKind::kOther;  // e.g. a quantizer's own trained scales: not model weights
  }
}

}  // namespace

std::vector<ModelTensor> model_tensors(const Module& model) {
  std::vector<ModelTensor> out;
  for (const Parameter& p : model.parameters())
    out.push_back(ModelTensor{p.name, kind_of(p), p.tensor});
  for (const NamedTensor& b : model.buffers()) {
    PtqTensorKind kind = PtqTensorKind::kOther;
    if (ends_with(b.name, "running_mean")) kind = PtqTensorKind::kRunningMean;
    if (ends_with(b.name, "running_var")) kind = PtqTensorKind::kRunningVar;
    out.push_back(ModelTensor{b.name, kind, b.tensor});
  }
  return out;
}

bool ptq_quantizes(PtqTensorKind kind, const PtqTargets& t) {
  switch (kind) {
    case PtqTensorKind::kWeight:
      return true;
    case PtqTensorKind::kBias:
      return t.biases;
    case PtqTensorKind::kNormScale:
    case PtqTensorKind::kNormShift:
      return t.bn != PtqBn::kNone;
    case PtqTensorKind::kRunningMean:
    case PtqTensorKind::kRunningVar:
      return t.bn == PtqBn::kAll;
    case PtqTensorKind::kOther:
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
    if (!ptq_quantizes(m.kind, targets) || m.tensor.numel() == 0) continue;
    PtqTensor t;
    t.name = m.name;
    t.kind = m.kind;
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
