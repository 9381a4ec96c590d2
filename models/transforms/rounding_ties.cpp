// Rounding-tie clearance: trace, count values near the boundaries of each candidate grid, move the
// first layer that needs it, trace again.
#include "models/transforms/rounding_ties.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/quant/uniform_quantizer.h"
#include "models/module_paths.h"

namespace lowbit {

int64_t count_near_boundaries(const float* x, int64_t n, double step, int64_t low, int64_t high,
                              double margin) {
  if (!(step > 0) || high <= low) return 0;
  const double inverse = 1.0 / step;
  std::atomic<int64_t> total{0};
  parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
    int64_t near = 0;
    for (int64_t i = begin; i < end; ++i) {
      const double u = static_cast<double>(x[i]) * inverse;
      const double below = std::floor(u);
      near += std::fabs(u - below - 0.5) < margin && below >= static_cast<double>(low) &&
              below < static_cast<double>(high);
    }
    total += near;
  });
  return total.load();
}

namespace {

// The per-tensor uniform input quantizer of a Conv2d or Linear, or null.
UniformQuantizer* input_quantizer_of(const Module& m) {
  std::shared_ptr<Quantizer> q;
  if (const auto* conv = dynamic_cast<const Conv2d*>(&m)) q = conv->input_quantizer();
  if (const auto* fc = dynamic_cast<const Linear*>(&m)) q = fc->input_quantizer();
  auto* u = dynamic_cast<UniformQuantizer*>(q.get());
  return u != nullptr && u->channels() == 1 ? u : nullptr;
}

// One candidate alpha of a layer: its grid and the values near its boundaries so far.
struct Candidate {
  int units = 0;
  float alpha = 0;
  double step = 0;
  int64_t low = 0, high = 0;  // code range (asymmetric: z .. z + 2^n - 1)
  int64_t near = 0;
};

// The grid the quantizer would have with `alpha` (set, read, restored: the quantizer's own float
// arithmetic decides the step and zero point).
Candidate grid_at(UniformQuantizer& q, int units, float alpha) {
  float& a = q.alpha().data()[0];
  const float saved = a;
  a = alpha;
  Candidate c;
  c.units = units;
  c.alpha = alpha;
  c.step = q.steps()[0];
  const UniformQuantizer::CodeLimits codes = q.codes(0);
  c.low = codes.low;
  c.high = codes.high;
  a = saved;
  return c;
}

// A layer under test in one trace: its candidates (d = 0 first, then -1, +1, -2, ...).
struct LayerTrace {
  const Module* layer = nullptr;
  UniformQuantizer* quantizer = nullptr;
  std::vector<Candidate> candidates;
  int64_t values = 0;
};

LayerTrace start_trace(const Module& layer, UniformQuantizer& q, const TieClearanceOptions& o) {
  LayerTrace t;
  t.layer = &layer;
  t.quantizer = &q;
  const float alpha = q.alpha().data()[0];
  const double unit = std::ldexp(1.0, -o.fraction_bits);
  for (int k = 0; k <= 2 * o.max_units; ++k) {
    const int units = (k + 1) / 2 * (k % 2 == 1 ? -1 : 1);  // 0, -1, +1, -2, +2, ...
    const double moved = static_cast<double>(alpha) + units * unit;
    if (units != 0 && (moved < q.spec().min_alpha || moved > q.spec().max_alpha)) continue;
    t.candidates.push_back(grid_at(q, units, static_cast<float>(moved)));
  }
  return t;
}

}  // namespace

std::vector<TieCheck> clear_rounding_ties(Module& model, const std::vector<Tensor>& batches,
                                          const TieClearanceOptions& o) {
  LOWBIT_CHECK(!batches.empty(), "clear_rounding_ties: no batches; expected at least one");
  LOWBIT_CHECK(o.margin > 0 && o.margin < 0.5, "clear_rounding_ties: margin ", o.margin,
               "; expected a fraction of a step in (0, 0.5)");
  LOWBIT_CHECK(o.max_units >= 1 && o.fraction_bits >= 0 && o.fraction_bits <= 23,
               "clear_rounding_ties: max_units ", o.max_units, ", fraction_bits ", o.fraction_bits,
               "; expected >= 1 and 0..23");
  const std::unordered_map<const Module*, std::string> paths = module_paths(model);
  const ModeGuard mode(model, false);
  NoGradGuard no_grad;

  std::vector<TieCheck> checks;
  std::unordered_set<const Module*> decided;
  for (;;) {
    // One trace over every batch: counts for each undecided layer, in the order they run.
    std::vector<LayerTrace> traces;
    std::unordered_map<const Module*, size_t> index;
    {
      ObserveForward observe([&](const Module& m, const Tensor& in, const Tensor&) {
        if (decided.count(&m) > 0) return;
        UniformQuantizer* q = input_quantizer_of(m);
        if (q == nullptr) return;
        auto it = index.find(&m);
        if (it == index.end()) {
          it = index.emplace(&m, traces.size()).first;
          traces.push_back(start_trace(m, *q, o));
        }
        LayerTrace& t = traces[it->second];
        t.values += in.numel();
        for (Candidate& c : t.candidates)
          c.near += count_near_boundaries(in.data(), in.numel(), c.step, c.low, c.high, o.margin);
      });
      for (const Tensor& batch : batches) model(batch);
    }
    // Decide in forward order up to the first move: what runs after it saw inputs that change now.
    bool moved = false;
    for (LayerTrace& t : traces) {
      const Candidate& current = t.candidates.front();
      const Candidate* best = &current;
      for (const Candidate& c : t.candidates)
        if (c.near < best->near) best = &c;  // the first of equal counts: the smallest move
      const bool move =
          current.near >= o.min_ties && 2 * best->near <= current.near && best != &current;
      TieCheck check;
      check.layer = paths.count(t.layer) > 0 ? paths.at(t.layer) : t.layer->type_name();
      check.units = move ? best->units : 0;
      check.ties_before = current.near;
      check.ties_after = move ? best->near : current.near;
      check.values = t.values;
      checks.push_back(check);
      decided.insert(t.layer);
      if (move) {
        t.quantizer->alpha().data()[0] = best->alpha;
        moved = true;
        break;
      }
    }
    if (!moved) break;
  }
  return checks;
}

}  // namespace lowbit
