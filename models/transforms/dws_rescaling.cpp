// Depthwise-separable rescaling (FAT section 3.3.1, steps 1-6): finding the pairs by tracing, the
// per-channel output maxima over the calibration batches, and the factors applied to both weights.
#include "models/transforms/dws_rescaling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/identity.h"
#include "models/module_paths.h"

namespace lowbit {
namespace {

struct Call {
  Module* module;
  Tensor in, out;  // held, so that no TensorImpl address is reused during the trace
};

bool is_depthwise(const Conv2d& c) {
  return c.options().groups == c.in_channels() && c.in_channels() == c.out_channels();
}

// Per filter max|w| (step 1).
std::vector<double> filter_maxima(const Tensor& weight) {
  const int64_t c = weight.size(0), row = weight.numel() / c;
  std::vector<double> t(static_cast<size_t>(c), 0.0);
  for (int64_t k = 0; k < c; ++k)
    for (int64_t i = 0; i < row; ++i)
      t[static_cast<size_t>(k)] = std::max(
          t[static_cast<size_t>(k)], std::fabs(static_cast<double>(weight.data()[k * row + i])));
  return t;
}

double spread(const std::vector<double>& t) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
  for (double v : t) {
    if (v <= 0.0) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return hi > 0.0 ? hi / lo : 1.0;
}

struct Chain {
  Conv2d* depthwise;
  Conv2d* next;
  bool saturates;  // ReLU6 (locking and the step-6 cap apply) or ReLU (neither)
};

}  // namespace

std::vector<DwsRescaling> rescale_depthwise_separable(Module& model,
                                                      const std::vector<Tensor>& batches,
                                                      float lock_limit) {
  LOWBIT_CHECK(!batches.empty(),
               "rescale_depthwise_separable: no calibration batches; expected at least one");
  LOWBIT_CHECK(lock_limit > 0.0f && lock_limit <= 6.0f, "rescale_depthwise_separable: lock limit ",
               lock_limit, " must be in (0, 6] (the paper's 5.9)");
  const ModeGuard mode(model, false);

  // Structure: one traced forward of the first batch.
  std::vector<Call> calls;
  {
    NoGradGuard no_grad;
    ObserveForward observe([&](const Module& m, const Tensor& in, const Tensor& out) {
      calls.push_back(Call{const_cast<Module*>(&m), in, out});
    });
    model(batches.front());
  }
  // The leaf or layer calls that read each tensor (containers only pass their input through).
  std::unordered_map<const TensorImpl*, std::vector<Module*>> readers;
  std::unordered_map<const Module*, int> times_called;
  for (const Call& c : calls) {
    // An Identity (a folded BN's place) returns its input itself: not a reader.
    if ((c.module->children().empty() || dynamic_cast<Conv2d*>(c.module)) &&
        !dynamic_cast<Identity*>(c.module))
      readers[c.in.impl()].push_back(c.module);
    ++times_called[c.module];
  }
  std::unordered_map<const Module*, const Call*> call_of;
  for (const Call& c : calls) call_of.emplace(c.module, &c);
  // The sole reader of `t`, or null.
  auto sole_reader = [&](const Tensor& t) -> Module* {
    const auto it = readers.find(t.impl());
    return it != readers.end() && it->second.size() == 1 && times_called[it->second.front()] == 1
               ? it->second.front()
               : nullptr;
  };
  const std::unordered_map<const Module*, std::string> paths = module_paths(model);

  std::vector<Chain> chains;
  for (const Call& c : calls) {
    auto* dws = dynamic_cast<Conv2d*>(c.module);
    if (!dws || !is_depthwise(*dws) || times_called[dws] != 1) continue;
    Module* m = sole_reader(c.out);
    LOWBIT_CHECK(
        !dynamic_cast<BatchNorm*>(m), "rescale_depthwise_separable: the BatchNorm '", paths.at(m),
        "' after depthwise '", paths.at(dws),
        "' is not folded; expected fold_batch_norms first (scaling does not commute with a BN)");
    const bool relu6 = dynamic_cast<ReLU6*>(m) != nullptr;
    if (!relu6 && !dynamic_cast<ReLU*>(m)) continue;
    auto* next = dynamic_cast<Conv2d*>(sole_reader(call_of.at(m)->out));
    if (!next || next->options().groups != 1) continue;
    for (Conv2d* conv : {dws, next}) {
      LOWBIT_CHECK(conv->weight_quantizer() == nullptr, "rescale_depthwise_separable: '",
                   paths.at(conv),
                   "' has a weight quantizer; expected rescaling of the float model before "
                   "quantizers are attached");
    }
    chains.push_back(Chain{dws, next, relu6});
  }
  calls.clear();
  readers.clear();
  call_of.clear();

  // Step 2: the largest value of each depthwise output channel over every batch.
  std::unordered_map<const Module*, std::vector<double>> maxima;
  for (const Chain& ch : chains)
    maxima[ch.depthwise].assign(static_cast<size_t>(ch.depthwise->out_channels()),
                                -std::numeric_limits<double>::infinity());
  {
    NoGradGuard no_grad;
    ObserveForward observe([&](const Module& m, const Tensor&, const Tensor& out) {
      const auto it = maxima.find(&m);
      if (it == maxima.end()) return;
      const int64_t n = out.size(0), c = out.size(1), inner = out.numel() / (n * c);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t k = 0; k < c; ++k) {
          const float* p = out.data() + (b * c + k) * inner;
          double& mk = it->second[static_cast<size_t>(k)];
          for (int64_t i = 0; i < inner; ++i) mk = std::max(mk, static_cast<double>(p[i]));
        }
    });
    for (const Tensor& batch : batches) model(batch);
  }

  std::vector<DwsRescaling> out;
  for (const Chain& ch : chains) {
    const std::vector<double> t = filter_maxima(ch.depthwise->weight());
    const std::vector<double>& m = maxima.at(ch.depthwise);
    const size_t channels = t.size();
    DwsRescaling r;
    r.depthwise = paths.at(ch.depthwise);
    r.next = paths.at(ch.next);
    r.channels = static_cast<int64_t>(channels);
    // Steps 3-4: locked channels and the control value T_0.
    std::vector<bool> locked(channels, false);
    double locked_sum = 0.0, all_sum = 0.0;
    for (size_t k = 0; k < channels; ++k) {
      locked[k] = ch.saturates && m[k] >= lock_limit;
      r.locked += locked[k];
      if (locked[k]) locked_sum += t[k];
      all_sum += t[k];
    }
    r.t0 = r.locked > 0 ? locked_sum / static_cast<double>(r.locked)
                        : all_sum / static_cast<double>(channels);
    // Steps 5-6: the factors, capped so that the rescaled outputs stay below the lock limit.
    r.scales.assign(channels, 1.0f);
    for (size_t k = 0; k < channels; ++k) {
      if (locked[k] || t[k] <= 0.0 || r.t0 <= 0.0) continue;
      double s = r.t0 / t[k];
      if (ch.saturates && m[k] > 0.0) s = std::min(s, static_cast<double>(lock_limit) / m[k]);
      r.scales[k] = static_cast<float>(s);
    }
    r.spread_before = spread(t);
    // W_dws[k] *= S_k, b_dws[k] *= S_k, W_next[:, k] /= S_k.
    const Tensor& wd = ch.depthwise->weight();
    const int64_t row = wd.numel() / static_cast<int64_t>(channels);
    for (size_t k = 0; k < channels; ++k) {
      const int64_t kk = static_cast<int64_t>(k);
      for (int64_t i = 0; i < row; ++i) wd.data()[kk * row + i] *= r.scales[k];
      if (ch.depthwise->bias().defined()) ch.depthwise->bias().data()[kk] *= r.scales[k];
    }
    const Tensor& wn = ch.next->weight();  // (C_out, C_in = channels, kh, kw)
    const int64_t c_out = wn.size(0), area = wn.size(2) * wn.size(3);
    for (int64_t o = 0; o < c_out; ++o)
      for (size_t k = 0; k < channels; ++k) {
        float* p =
            wn.data() + (o * static_cast<int64_t>(channels) + static_cast<int64_t>(k)) * area;
        for (int64_t i = 0; i < area; ++i) p[i] /= r.scales[k];
      }
    const std::vector<double> t_after = filter_maxima(wd);
    r.spread_after = spread(t_after);
    r.locked_channels = locked;
    r.filter_max_before.assign(t.begin(), t.end());
    r.filter_max_after.assign(t_after.begin(), t_after.end());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace lowbit
