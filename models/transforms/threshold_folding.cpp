// Threshold folding: the batched binary search, and the float simulation's BN, shortcut sum and
// activation run on candidate accumulators.
#include "models/transforms/threshold_folding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/elementwise.h"

namespace lowbit {

using runtime::ThresholdMap;

std::vector<int64_t> search_thresholds(int64_t rows, int levels, int64_t low, int64_t high,
                                       const ThresholdEvaluate& evaluate) {
  LOWBIT_CHECK(rows >= 1 && levels >= 2 && low <= high && high < ThresholdMap::kNever &&
                   low > ThresholdMap::kAlways,
               "search_thresholds: ", rows, " rows of ", levels, " levels on ", low, "..", high);
  const int64_t per_row = levels - 1, lanes = rows * per_row;
  // Lane (r, j - 1) keeps its answer in [lo, hi]: f_r(hi) >= j (high + 1 standing for "none"),
  // f_r(a) < j below lo.
  std::vector<int64_t> lo(static_cast<size_t>(lanes), low),
      hi(static_cast<size_t>(lanes), high + 1);
  std::vector<int64_t> mid(static_cast<size_t>(lanes));
  std::vector<int> index(static_cast<size_t>(lanes));
  for (bool open = true; open;) {
    open = false;
    for (size_t l = 0; l < mid.size(); ++l)  // a closed lane evaluates somewhere harmless
      mid[l] = lo[l] < hi[l] ? lo[l] + (hi[l] - lo[l]) / 2 : std::min(lo[l], high);
    evaluate(mid, index);
    for (size_t l = 0; l < mid.size(); ++l) {
      if (lo[l] >= hi[l]) continue;
      const int j = static_cast<int>(l % static_cast<size_t>(per_row)) + 1;
      if (index[l] >= j)
        hi[l] = mid[l];
      else
        lo[l] = mid[l] + 1;
      open = open || lo[l] < hi[l];
    }
  }
  std::vector<int64_t> t(static_cast<size_t>(lanes));
  for (size_t l = 0; l < t.size(); ++l)
    t[l] = lo[l] == low ? ThresholdMap::kAlways : lo[l] > high ? ThresholdMap::kNever : lo[l];
  return t;
}

bool exact_float_sums(const ThresholdLayer& layer) {
  int exponent = 0;
  double odd = std::ldexp(std::frexp(double(layer.step_x) * layer.step_w, &exponent), 53);
  if (odd == 0) return true;
  while (std::fmod(odd, 2.0) == 0) odd /= 2;
  return static_cast<double>(layer.bound) * odd < 16777216.0;
}

namespace {

// The float simulation's activation level (an index into `outputs`) for accumulators laid out as
// (channels, shortcut rows, k): y = act(bn(acc unit) + shortcut value), acc negated on the
// channels of `negated`.
class Simulation {
 public:
  Simulation(const ThresholdLayer& layer, std::vector<LevelValue> outputs)
      : layer_(layer), outputs_(std::move(outputs)) {}

  void levels(const std::vector<int64_t>& acc, const std::vector<bool>& negated,
              std::vector<int>& index) const {
    const auto n = static_cast<int64_t>(acc.size());
    const int64_t c = layer_.channels, per_channel = n / c;
    const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(layer_.shortcut.size()));
    const int64_t k = per_channel / rows;
    const double step = static_cast<double>(layer_.step_x) * layer_.step_w;
    NoGradGuard no_grad;
    Tensor x = Tensor::empty({1, c, 1, per_channel});
    for (int64_t i = 0; i < n; ++i) {
      const auto ch = static_cast<size_t>(i / per_channel);
      const double unit = layer_.units.empty() ? step : layer_.units[ch];
      const auto a = static_cast<double>(acc[static_cast<size_t>(i)]);
      // The convolution's float32 output: the exact sum (exact_float_sums), converted exactly.
      x.data()[i] = static_cast<float>((negated[ch] ? -a : a) * unit);
    }
    // BatchNorm::forward in evaluation: its own kernel, so its own float32 expression.
    const BatchNorm& bn = *layer_.bn;
    Tensor y = batch_norm(x, bn.weight(), bn.bias(), bn.running_mean(), bn.running_var(), false,
                          bn.momentum(), bn.eps());
    if (!layer_.shortcut.empty()) {  // ResidualBlock::forward's add(h, shortcut)
      Tensor s = Tensor::empty(y.shape());
      for (int64_t i = 0; i < n; ++i)
        s.data()[i] = layer_.shortcut[static_cast<size_t>(i % per_channel / k)].value;
      y = add(y, s);
    }
    y = layer_.activation->forward(y);
    index.resize(acc.size());
    for (int64_t i = 0; i < n; ++i) {
      const float v = y.data()[i];
      const auto it = std::lower_bound(outputs_.begin(), outputs_.end(), v,
                                       [](const LevelValue& l, float x) { return l.value < x; });
      LOWBIT_CHECK(it != outputs_.end() && it->value == v,
                   "threshold folding: the activation gave ", v, ", none of its levels");
      index[static_cast<size_t>(i)] = static_cast<int>(it - outputs_.begin());
    }
  }

 private:
  const ThresholdLayer& layer_;
  std::vector<LevelValue> outputs_;
};

}  // namespace

FoldedThresholds fold_thresholds(const ThresholdLayer& layer, int fraction_bits) {
  LOWBIT_CHECK(layer.bn && layer.activation && layer.channels >= 1 && layer.bound >= 0,
               "fold_thresholds: a layer of ", layer.channels,
               " channels needs its BN and activation");
  const std::vector<LevelValue> outputs = pow2_level_values(*layer.activation, fraction_bits);
  const Simulation simulation(layer, outputs);
  const int64_t c = layer.channels, low = -layer.bound, high = layer.bound;
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(layer.shortcut.size()));
  FoldedThresholds folded;
  folded.negated.assign(static_cast<size_t>(c), false);
  // The direction of each channel's map: a decrease from low to high under any shortcut value.
  std::vector<int64_t> ends;
  for (int64_t r = 0; r < c * rows; ++r) ends.insert(ends.end(), {low, high});
  std::vector<int> index;
  simulation.levels(ends, folded.negated, index);
  std::vector<bool> negated(static_cast<size_t>(c), false);
  for (int64_t r = 0; r < c * rows; ++r)
    if (index[static_cast<size_t>(2 * r)] > index[static_cast<size_t>(2 * r + 1)])
      negated[static_cast<size_t>(r / rows)] = true;
  folded.negated = negated;
  runtime::ThresholdMap& map = folded.map;
  map.channels = c;
  for (const LevelValue& l : outputs) map.levels.push_back(l.fixed);
  for (const LevelValue& s : layer.shortcut) map.shortcuts.push_back(s.fixed);
  map.thresholds = search_thresholds(c * rows, static_cast<int>(outputs.size()), low, high,
                                     [&](const std::vector<int64_t>& acc, std::vector<int>& out) {
                                       simulation.levels(acc, negated, out);
                                     });
  const std::string error = runtime::threshold_params_error(map.params());
  LOWBIT_CHECK(error.empty(), "threshold folding: ", error);
  return folded;
}

namespace {

// Floats in their order as integers: -0 just below +0, -inf and +inf at the ends.
int64_t float_key(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? -static_cast<int64_t>(u & 0x7fffffffu) - 1 : static_cast<int64_t>(u);
}
float key_float(int64_t k) {
  const uint32_t u =
      k >= 0 ? static_cast<uint32_t>(k) : (static_cast<uint32_t>(-(k + 1)) | 0x80000000u);
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

std::vector<float> activation_float_thresholds(Pow2Activation& activation, int fraction_bits) {
  const std::vector<LevelValue> outputs = pow2_level_values(activation, fraction_bits);
  const float inf = std::numeric_limits<float>::infinity(),
              largest = std::numeric_limits<float>::max();
  const int64_t low = float_key(-largest), high = float_key(largest);  // the finite floats
  const std::vector<int64_t> keys = search_thresholds(
      1, static_cast<int>(outputs.size()), low, high,
      [&](const std::vector<int64_t>& candidates, std::vector<int>& index) {
        NoGradGuard no_grad;
        Tensor x = Tensor::empty({1, 1, 1, static_cast<int64_t>(candidates.size())});
        for (size_t i = 0; i < candidates.size(); ++i) x.data()[i] = key_float(candidates[i]);
        const Tensor y = activation.forward(x);
        index.resize(candidates.size());
        for (size_t i = 0; i < candidates.size(); ++i) {
          const float v = y.data()[i];
          const auto it =
              std::lower_bound(outputs.begin(), outputs.end(), v,
                               [](const LevelValue& l, float value) { return l.value < value; });
          LOWBIT_CHECK(it != outputs.end() && it->value == v, "float join: the activation gave ", v,
                       ", none of its levels");
          index[i] = static_cast<int>(it - outputs.begin());
        }
      });
  std::vector<float> thresholds;
  for (int64_t k : keys)
    thresholds.push_back(k == ThresholdMap::kAlways  ? -inf
                         : k == ThresholdMap::kNever ? inf
                                                     : key_float(k));
  return thresholds;
}

}  // namespace lowbit
