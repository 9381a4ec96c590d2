// Calibration (FAT eq. 2, 6): per-layer input statistics from a traced float forward, weight
// statistics from the weights, and the quantizers built from them.
#include "models/transforms/calibration.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "models/module_paths.h"

namespace lowbit {
namespace {

// Per-channel (or one overall) minimum and maximum of the values a layer saw.
struct RangeStats {
  std::vector<float> low, high;
  bool seen = false;

  void add(const Tensor& x, Granularity g, int axis) {
    const bool per_channel = g == Granularity::kVector;
    LOWBIT_CHECK(!per_channel || axis < x.rank(), "calibration: per-channel statistics over axis ",
                 axis, " of a tensor of shape ", x.shape().str());
    const int64_t channels = per_channel ? x.size(axis) : 1;
    int64_t outer = 1, inner = 1;
    if (per_channel) {
      for (int d = 0; d < axis; ++d) outer *= x.size(d);
      for (int d = axis + 1; d < x.rank(); ++d) inner *= x.size(d);
    } else {
      inner = x.numel();
    }
    if (!seen) {
      low.assign(static_cast<size_t>(channels), std::numeric_limits<float>::infinity());
      high.assign(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity());
      seen = true;
    }
    LOWBIT_CHECK(static_cast<int64_t>(low.size()) == channels, "calibration: a layer saw ",
                 channels, " channels after ", low.size(), "; expected the same every call");
    const float* p = x.data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t c = 0; c < channels; ++c) {
        const float* row = p + (o * channels + c) * inner;
        float lo = low[static_cast<size_t>(c)], hi = high[static_cast<size_t>(c)];
        for (int64_t i = 0; i < inner; ++i) {
          lo = std::min(lo, row[i]);
          hi = std::max(hi, row[i]);
        }
        low[static_cast<size_t>(c)] = lo;
        high[static_cast<size_t>(c)] = hi;
      }
    }
  }
  bool any_negative() const {
    return std::any_of(low.begin(), low.end(), [](float v) { return v < 0.0f; });
  }
};

// A quantizer calibrated on `stats`: T_max = max(|low|, |high|), or the limits widened to hold 0.
std::shared_ptr<UniformQuantizer> make_quantizer(const UniformQuantizerSpec& spec,
                                                 const RangeStats& stats) {
  auto q = std::make_shared<UniformQuantizer>(spec, static_cast<int64_t>(stats.low.size()));
  std::vector<float> left(stats.low.size()), right(stats.low.size()), t_max(stats.low.size());
  for (size_t c = 0; c < stats.low.size(); ++c) {
    left[c] = std::min(0.0f, stats.low[c]);
    right[c] = std::max(0.0f, stats.high[c]);
    t_max[c] = std::max(-left[c], right[c]);
  }
  if (spec.thresholds == Thresholds::kSymmetric) {
    q->set_threshold(t_max);
  } else {
    q->set_range(left, right);
  }
  return q;
}

UniformQuantizerSpec spec_of(Thresholds t, int bits, bool is_signed, Granularity g, int axis) {
  return t == Thresholds::kSymmetric ? symmetric_quantizer_spec(bits, is_signed, g, axis)
                                     : asymmetric_quantizer_spec(bits, is_signed, g, axis);
}

}  // namespace

std::vector<CalibratedLayer> attach_calibrated_quantizers(Module& model,
                                                          const std::vector<Tensor>& batches,
                                                          const UniformQuantizationOptions& o) {
  LOWBIT_CHECK(!batches.empty(),
               "attach_calibrated_quantizers: no calibration batches; expected at least one");
  const std::unordered_map<const Module*, std::string> paths = module_paths(model);
  // The layers, in registration order.
  std::vector<Module*> layers;
  for_each_module(model, [&](Module& m) {
    auto* conv = dynamic_cast<Conv2d*>(&m);
    auto* fc = dynamic_cast<Linear*>(&m);
    if (!conv && !fc) return;
    const bool has_quantizer = conv ? conv->weight_quantizer() || conv->input_quantizer()
                                    : fc->weight_quantizer() || fc->input_quantizer();
    LOWBIT_CHECK(!has_quantizer, "attach_calibrated_quantizers: layer '", paths.at(&m),
                 "' has a quantizer already; expected a float model");
    layers.push_back(&m);
  });

  std::unordered_map<const Module*, RangeStats> inputs;
  {
    const ModeGuard mode(model, false);
    NoGradGuard no_grad;
    ObserveForward observe([&](const Module& m, const Tensor& in, const Tensor&) {
      if (dynamic_cast<const Conv2d*>(&m) || dynamic_cast<const Linear*>(&m))
        inputs[&m].add(in, o.input_granularity, 1);
    });
    for (const Tensor& batch : batches) model(batch);
  }

  std::vector<CalibratedLayer> out;
  for (Module* m : layers) {
    const auto it = inputs.find(m);
    LOWBIT_CHECK(it != inputs.end(), "attach_calibrated_quantizers: layer '", paths.at(m),
                 "' was not called on the calibration batches; expected every layer to be reached");
    const RangeStats& in = it->second;
    auto* conv = dynamic_cast<Conv2d*>(m);
    const Tensor& weight = conv ? conv->weight() : dynamic_cast<Linear*>(m)->weight();
    RangeStats w;
    w.add(weight, o.weight_granularity, 0);
    const auto forced = o.input_signed.find(paths.at(m));
    const bool input_signed = forced != o.input_signed.end() ? forced->second : in.any_negative();
    CalibratedLayer layer{
        paths.at(m),
        make_quantizer(spec_of(o.thresholds, o.weight_bits, true, o.weight_granularity, 0), w),
        make_quantizer(spec_of(o.thresholds, o.input_bits, input_signed, o.input_granularity, 1),
                       in),
        nullptr};
    std::shared_ptr<Quantizer> weight_quantizer = layer.weight;
    if (o.pointwise_weight_scales) {
      layer.weight_scales =
          std::make_shared<PointwiseScaledQuantizer>(layer.weight, weight.shape());
      weight_quantizer = layer.weight_scales;
    }
    if (conv) {
      conv->set_weight_quantizer(weight_quantizer);
      conv->set_input_quantizer(layer.input);
    } else {
      auto* fc = dynamic_cast<Linear*>(m);
      fc->set_weight_quantizer(weight_quantizer);
      fc->set_input_quantizer(layer.input);
    }
    out.push_back(std::move(layer));
  }
  return out;
}

}  // namespace lowbit
