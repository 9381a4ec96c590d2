#include "models/transforms/integer_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <optional>
#include <utility>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/runtime/float_join.h"
#include "core/runtime/levels.h"
#include "core/runtime/program.h"
#include "core/runtime/thresholds.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/identity.h"
#include "layers/kernels/batch_norm_kernels.h"
#include "layers/kernels/integer_ops.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/quant/pointwise_scaled_quantizer.h"
#include "layers/quant/pow2_activation.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/reshape.h"
#include "layers/sequential.h"
#include "layers/shortcut.h"
#include "models/graph_model.h"
#include "models/mobilenet_v2.h"
#include "models/module_paths.h"
#include "models/resnet.h"
#include "models/transforms/threshold_folding.h"

namespace lowbit {

using kernels::FixedPointMultiplier;
using runtime::OpKind;
static_assert(kIntegerFractionBits == runtime::kFractionBits,
              "the runtime runs programs in the integer model's fixed point");

namespace {

constexpr double kOne = static_cast<double>(1 << kIntegerFractionBits);  // 1.0 in fixed point

// One image's activation in fixed point: dims (C, H, W) or (F).
struct IntActivation {
  std::vector<int64_t> dims;
  std::vector<int32_t> values;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

// Per-thread scratch reused from image to image (fresh buffers would cost page faults).
struct Workspace {
  std::vector<int16_t> codes;
  kernels::IntConvScratch conv;
  std::vector<int32_t> accumulators;
  IntActivation spare;
  // The inputs kept for residual adds, one per nesting level (a deque keeps references stable).
  std::deque<IntActivation> skips;
  size_t skip_depth = 0;
  // The values of a graph's steps (GraphOp), one set per nesting level, likewise.
  std::deque<std::vector<IntActivation>> graph_values;
  size_t graph_depth = 0;
  int64_t saturated = 0;
};

// v clamped to int32, counting the clamps: a value beyond +-2^(31 - F) does not fit the fixed
// point.
int32_t clamp_counted(int64_t v, Workspace& ws) {
  if (v > INT32_MAX || v < INT32_MIN) ++ws.saturated;
  return kernels::saturate_int32(v);
}

// Rounds sum / count to nearest, halves away from zero (count > 0).
int32_t divide_rounded(int64_t sum, int64_t count) {
  const int64_t q = (2 * std::abs(sum) + count) / (2 * count);
  return kernels::saturate_int32(sum < 0 ? -q : q);
}

}  // namespace

class IntegerOp {
 public:
  virtual ~IntegerOp() = default;
  virtual void run(IntActivation& x, Workspace& ws) const = 0;
  // Appends this operation to a runtime program (core/runtime/program.h) that computes the same
  // integers, reading value `input`; returns the value that holds the result.
  virtual int32_t emit(runtime::Program& program, int32_t input) const = 0;
};

namespace {

// Appends one runtime operation; returns its new output value.
int32_t append(runtime::Program& program, OpKind kind, std::vector<int32_t> inputs,
               std::vector<int64_t> params = {}) {
  runtime::Op op;
  op.kind = kind;
  op.inputs = std::move(inputs);
  op.params = std::move(params);
  op.output = program.num_values++;
  program.ops.push_back(std::move(op));
  return program.ops.back().output;
}

using OpPtr = std::unique_ptr<IntegerOp>;

class SequenceOp : public IntegerOp {
 public:
  explicit SequenceOp(std::vector<OpPtr> ops) : ops_(std::move(ops)) {}
  void run(IntActivation& x, Workspace& ws) const override {
    for (const OpPtr& op : ops_) op->run(x, ws);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    for (const OpPtr& op : ops_) input = op->emit(program, input);
    return input;
  }

 private:
  std::vector<OpPtr> ops_;
};

class IdentityOp : public IntegerOp {
 public:
  void run(IntActivation&, Workspace&) const override {}
  int32_t emit(runtime::Program&, int32_t input) const override { return input; }
};

// What joins a residual block's branch and shortcut into the activation's levels, in place of
// the sum and the activation: x (the branch's accumulators) becomes levels.
class JoinOp : public IntegerOp {
 public:
  virtual void join(IntActivation& x, const IntActivation* shortcut) const = 0;
  virtual int32_t emit_join(runtime::Program& program, int32_t input, int32_t shortcut) const = 0;
};

// BN and the activation folded into thresholds on the accumulator before them, and the residual
// shortcut's value when one joins (core/runtime/thresholds.h).
class ThresholdsOp : public JoinOp {
 public:
  explicit ThresholdsOp(runtime::ThresholdMap map) : map_(std::move(map)) {}
  void run(IntActivation& x, Workspace&) const override { join(x, nullptr); }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kThresholds, {input}, map_.params());
  }
  // x (accumulators) becomes levels, with the shortcut's values (null: none) alike.
  void join(IntActivation& x, const IntActivation* shortcut) const override {
    LOWBIT_CHECK(!x.dims.empty() && x.dims[0] == map_.channels, "integer inference: thresholds of ",
                 map_.channels, " channels on a value of ", x.dims.empty() ? 0 : x.dims[0]);
    map_.apply(x.values.data(), shortcut ? shortcut->values.data() : nullptr, x.numel() / x.dims[0],
               false, x.values.data());
  }
  int32_t emit_join(runtime::Program& program, int32_t input, int32_t shortcut) const override {
    return append(program, OpKind::kThresholds, {input, shortcut}, map_.params());
  }

 private:
  runtime::ThresholdMap map_;
};

// A projection block's two accumulators joined by the simulation's float32 BN, sum and activation
// (core/runtime/float_join.h).
class FloatJoinOp : public JoinOp {
 public:
  explicit FloatJoinOp(runtime::FloatJoin j) : j_(std::move(j)) {}
  void run(IntActivation&, Workspace&) const override {
    LOWBIT_CHECK(false, "integer inference: a float join runs inside its residual block");
  }
  int32_t emit(runtime::Program&, int32_t) const override {
    LOWBIT_CHECK(false, "integer inference: a float join is emitted by its residual block");
    return 0;
  }
  void join(IntActivation& x, const IntActivation* shortcut) const override {
    LOWBIT_CHECK(
        shortcut && !x.dims.empty() && x.dims[0] == j_.channels && shortcut->dims == x.dims,
        "integer inference: a float join of ", j_.channels, " channels on a value of ",
        x.dims.empty() ? 0 : x.dims[0]);
    j_.apply(x.values.data(), shortcut->values.data(), x.numel() / x.dims[0], false,
             x.values.data());
  }
  int32_t emit_join(runtime::Program& program, int32_t input, int32_t shortcut) const override {
    return append(program, OpKind::kFloatJoin, {input, shortcut}, j_.params());
  }

 private:
  runtime::FloatJoin j_;
};

// A float layer with its BN and activation folded (core/runtime/thresholds.h WideProduct).
class WideProductOp : public IntegerOp {
 public:
  WideProductOp(std::string path, runtime::WideProduct p)
      : path_(std::move(path)), p_(std::move(p)) {}
  void run(IntActivation& x, Workspace& ws) const override {
    std::string error;
    std::vector<int64_t> dims = runtime::wide_product_shape(p_, x.dims, error);
    LOWBIT_CHECK(error.empty(), "integer inference: ", path_, ": ", error);
    IntActivation& y = ws.spare;
    y.dims = std::move(dims);
    y.values.resize(static_cast<size_t>(y.numel()));
    p_.run(x.values.data(), x.dims.size() == 3 ? x.dims[1] : 1, x.dims.size() == 3 ? x.dims[2] : 1,
           false, y.values.data());
    std::swap(x, y);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kWideProduct, {input}, p_.params());
  }

 private:
  std::string path_;
  runtime::WideProduct p_;
};

// after(body(x) + shortcut(x)); a null shortcut is the identity, a null `after` does nothing. With
// `join` (threshold folding), body(x) is an accumulator and join(body(x), shortcut(x)) the levels,
// the sum and `after` folded into it.
class ResidualOp : public IntegerOp {
 public:
  ResidualOp(OpPtr body, OpPtr shortcut, OpPtr after, std::unique_ptr<JoinOp> join = nullptr)
      : body_(std::move(body)),
        shortcut_(std::move(shortcut)),
        after_(std::move(after)),
        join_(std::move(join)) {}
  void run(IntActivation& x, Workspace& ws) const override {
    if (ws.skips.size() == ws.skip_depth) ws.skips.emplace_back();
    IntActivation& skip = ws.skips[ws.skip_depth++];
    skip = x;  // reuses the buffer of the previous image
    body_->run(x, ws);
    if (shortcut_) shortcut_->run(skip, ws);
    LOWBIT_CHECK(skip.dims == x.dims,
                 "integer inference: a residual block's shortcut and body disagree in shape");
    if (join_) {
      join_->join(x, &skip);
      --ws.skip_depth;
      return;
    }
    for (size_t i = 0; i < x.values.size(); ++i)
      x.values[i] = clamp_counted(static_cast<int64_t>(x.values[i]) + skip.values[i], ws);
    --ws.skip_depth;
    if (after_) after_->run(x, ws);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    const int32_t body = body_->emit(program, input);
    const int32_t skip = shortcut_ ? shortcut_->emit(program, input) : input;
    if (join_) return join_->emit_join(program, body, skip);
    const int32_t sum = append(program, OpKind::kAdd, {body, skip});
    return after_ ? after_->emit(program, sum) : sum;
  }

 private:
  OpPtr body_, shortcut_, after_;
  std::unique_ptr<JoinOp> join_;
};

class ClampOp : public IntegerOp {  // ReLU (no upper bound) and ReLU6 (6 in fixed point)
 public:
  explicit ClampOp(int32_t high) : high_(high) {}
  void run(IntActivation& x, Workspace&) const override {
    for (int32_t& v : x.values) v = std::min(std::max(v, 0), high_);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kClamp, {input}, {high_});
  }

 private:
  int32_t high_;
};

// The power-of-two activation: fixed-point values to their levels (core/runtime/levels.h).
class LevelsOp : public IntegerOp {
 public:
  explicit LevelsOp(runtime::LevelMap map) : map_(std::move(map)) {}
  void run(IntActivation& x, Workspace&) const override {
    for (int32_t& v : x.values) v = map_.apply(v);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kLevels, {input}, map_.params());
  }

 private:
  runtime::LevelMap map_;
};

class FlattenOp : public IntegerOp {
 public:
  void run(IntActivation& x, Workspace&) const override { x.dims = {x.numel()}; }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kFlatten, {input});
  }
};

void check_image(const IntActivation& x, const std::string& path) {
  LOWBIT_CHECK(x.dims.size() == 3, "integer inference: ", path, " expects an image (C, H, W), got ",
               x.dims.size(), " dimensions");
}

class PoolOp : public IntegerOp {
 public:
  PoolOp(std::string path, bool is_max, int64_t kernel, int64_t stride, int64_t padding)
      : path_(std::move(path)),
        is_max_(is_max),
        kernel_(kernel),
        stride_(stride),
        padding_(padding) {}
  void run(IntActivation& x, Workspace& ws) const override {
    check_image(x, path_);
    const int64_t c = x.dims[0], h = x.dims[1], w = x.dims[2];
    const int64_t ho = (h + 2 * padding_ - kernel_) / stride_ + 1,
                  wo = (w + 2 * padding_ - kernel_) / stride_ + 1;
    IntActivation& y = ws.spare;
    y.dims = {c, ho, wo};
    y.values.resize(static_cast<size_t>(c * ho * wo));
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          int64_t sum = 0;
          int32_t best = INT32_MIN;
          for (int64_t ky = 0; ky < kernel_; ++ky)
            for (int64_t kx = 0; kx < kernel_; ++kx) {
              const int64_t iy = oy * stride_ - padding_ + ky, ix = ox * stride_ - padding_ + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;  // max: -infinity; average: 0
              const int32_t v = x.values[static_cast<size_t>((ch * h + iy) * w + ix)];
              best = std::max(best, v);
              sum += v;
            }
          // Average pooling counts the padding (count_include_pad, as the float op).
          y.values[static_cast<size_t>((ch * ho + oy) * wo + ox)] =
              is_max_ ? best : divide_rounded(sum, kernel_ * kernel_);
        }
    std::swap(x, y);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, is_max_ ? OpKind::kMaxPool : OpKind::kAvgPool, {input},
                  {kernel_, stride_, padding_});
  }

 private:
  std::string path_;
  bool is_max_;
  int64_t kernel_, stride_, padding_;
};

class GlobalAvgPoolOp : public IntegerOp {
 public:
  explicit GlobalAvgPoolOp(std::string path) : path_(std::move(path)) {}
  void run(IntActivation& x, Workspace&) const override {
    check_image(x, path_);
    const int64_t c = x.dims[0], plane = x.dims[1] * x.dims[2];
    for (int64_t ch = 0; ch < c; ++ch) {
      int64_t sum = 0;
      for (int64_t i = 0; i < plane; ++i) sum += x.values[static_cast<size_t>(ch * plane + i)];
      x.values[static_cast<size_t>(ch)] = divide_rounded(sum, plane);
    }
    x.values.resize(static_cast<size_t>(c));
    x.dims = {c};
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kGlobalAvgPool, {input});
  }

 private:
  std::string path_;
};

class PadChannelsOp : public IntegerOp {  // y[c, i, j] = x[c, i s, j s] for c < C, else 0
 public:
  PadChannelsOp(std::string path, int64_t out_channels, int64_t stride)
      : path_(std::move(path)), out_channels_(out_channels), stride_(stride) {}
  void run(IntActivation& x, Workspace& ws) const override {
    check_image(x, path_);
    const int64_t c = x.dims[0], h = x.dims[1], w = x.dims[2];
    LOWBIT_CHECK(c <= out_channels_, "integer inference: ", path_, " pads ", c, " channels to ",
                 out_channels_);
    const int64_t ho = (h + stride_ - 1) / stride_, wo = (w + stride_ - 1) / stride_;
    IntActivation& y = ws.spare;
    y.dims = {out_channels_, ho, wo};
    y.values.assign(static_cast<size_t>(out_channels_ * ho * wo), 0);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j)
          y.values[static_cast<size_t>((ch * ho + i) * wo + j)] =
              x.values[static_cast<size_t>((ch * h + i * stride_) * w + j * stride_)];
    std::swap(x, y);
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kPadChannels, {input}, {out_channels_, stride_});
  }

 private:
  std::string path_;
  int64_t out_channels_, stride_;
};

// A GraphModel's steps (models/graph_model.h) over one image: every value is kept until the
// graph ends, in the workspace's buffers of this nesting level (reused from image to image); sums
// add fixed-point values, concatenations join them along the float model's axis less the batch.
class GraphOp : public IntegerOp {
 public:
  struct Step {
    GraphModel::Step::Kind kind;
    OpPtr op;  // kModule
    std::vector<GraphModel::Value> inputs;
    int axis = 1;  // kConcat, of the float model's (N, ...) values
  };
  GraphOp(std::vector<Step> steps, GraphModel::Value output)
      : steps_(std::move(steps)), output_(output) {}

  void run(IntActivation& x, Workspace& ws) const override {
    if (ws.graph_values.size() == ws.graph_depth) ws.graph_values.emplace_back();
    std::vector<IntActivation>& values = ws.graph_values[ws.graph_depth++];
    values.resize(steps_.size() + 1);
    values[GraphModel::kInput] = x;
    for (size_t k = 0; k < steps_.size(); ++k) {
      const Step& s = steps_[k];
      IntActivation& y = values[k + 1];
      if (s.kind == GraphModel::Step::Kind::kModule) {
        y = values[static_cast<size_t>(s.inputs[0])];
        s.op->run(y, ws);
      } else if (s.kind == GraphModel::Step::Kind::kSum) {
        const IntActivation& a = values[static_cast<size_t>(s.inputs[0])];
        const IntActivation& b = values[static_cast<size_t>(s.inputs[1])];
        LOWBIT_CHECK(a.dims == b.dims, "integer inference: a sum of values of different shapes");
        y = a;
        for (size_t i = 0; i < y.values.size(); ++i)
          y.values[i] = clamp_counted(static_cast<int64_t>(a.values[i]) + b.values[i], ws);
      } else {
        concat(s, values, y);
      }
    }
    std::swap(x, values[static_cast<size_t>(output_)]);
    --ws.graph_depth;
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    std::vector<int32_t> ids(steps_.size() + 1);
    ids[GraphModel::kInput] = input;
    for (size_t k = 0; k < steps_.size(); ++k) {
      const Step& s = steps_[k];
      std::vector<int32_t> inputs;
      for (GraphModel::Value v : s.inputs) inputs.push_back(ids[static_cast<size_t>(v)]);
      if (s.kind == GraphModel::Step::Kind::kModule)
        ids[k + 1] = s.op->emit(program, inputs[0]);
      else if (s.kind == GraphModel::Step::Kind::kSum)
        ids[k + 1] = append(program, OpKind::kAdd, inputs);
      else
        ids[k + 1] = append(program, OpKind::kConcat, inputs, {s.axis});
    }
    return ids[static_cast<size_t>(output_)];
  }

 private:
  // y = the inputs joined along dimension `axis - 1` of each image: outer blocks of the dimensions
  // before it, each the inputs' inner slabs one after the other.
  static void concat(const Step& s, const std::vector<IntActivation>& values, IntActivation& y) {
    const IntActivation& first = values[static_cast<size_t>(s.inputs[0])];
    const int64_t rank = static_cast<int64_t>(first.dims.size());
    const int64_t d = (s.axis < 0 ? s.axis + rank + 1 : s.axis) - 1;
    LOWBIT_CHECK(d >= 0 && d < rank, "integer inference: a concatenation along axis ", s.axis,
                 " of values with ", rank + 1, " dimensions; expected an axis after the batch");
    int64_t outer = 1;
    for (int64_t k = 0; k < d; ++k) outer *= first.dims[static_cast<size_t>(k)];
    y.dims = first.dims;
    y.dims[static_cast<size_t>(d)] = 0;
    for (GraphModel::Value v : s.inputs) {
      const IntActivation& part = values[static_cast<size_t>(v)];
      LOWBIT_CHECK(part.dims.size() == first.dims.size(),
                   "integer inference: a concatenation of values of different ranks");
      y.dims[static_cast<size_t>(d)] += part.dims[static_cast<size_t>(d)];
    }
    y.values.clear();
    y.values.reserve(static_cast<size_t>(y.numel()));
    for (int64_t o = 0; o < outer; ++o)
      for (GraphModel::Value v : s.inputs) {
        const IntActivation& part = values[static_cast<size_t>(v)];
        const int64_t slab = part.numel() / outer;
        y.values.insert(y.values.end(), part.values.begin() + o * slab,
                        part.values.begin() + (o + 1) * slab);
      }
  }

  std::vector<Step> steps_;
  GraphModel::Value output_;
};

// Reshape (layers/reshape.h) of one image: the float model's dims with the batch first, 0 keeping
// a size and -1 inferred, read for a batch of one.
class ReshapeOp : public IntegerOp {
 public:
  ReshapeOp(std::string path, std::vector<int64_t> dims)
      : path_(std::move(path)), dims_(std::move(dims)) {}
  void run(IntActivation& x, Workspace&) const override {
    std::vector<int64_t> in{1};
    in.insert(in.end(), x.dims.begin(), x.dims.end());
    std::vector<int64_t> out = dims_;
    int64_t known = 1, inferred = -1;
    for (size_t k = 0; k < out.size(); ++k) {
      if (out[k] == 0) out[k] = in.at(k);
      if (out[k] == -1) {
        inferred = static_cast<int64_t>(k);
      } else {
        known *= out[k];
      }
    }
    if (inferred >= 0 && known > 0) out[static_cast<size_t>(inferred)] = x.numel() / known;
    int64_t count = 1;
    for (int64_t d : out) count *= d;
    LOWBIT_CHECK(!out.empty() && out[0] == 1 && count == x.numel(), "integer inference: ", path_,
                 " reshapes an image of ", x.numel(), " values to a batch of ",
                 out.empty() ? 0 : out[0], "; expected one image");
    x.dims.assign(out.begin() + 1, out.end());
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    return append(program, OpKind::kReshape, {input}, dims_);
  }

 private:
  std::string path_;
  std::vector<int64_t> dims_;
};

// A runtime layer's (ProductOp, WideProduct) sizes from a geometry.
template <class Layer>
void set_geometry(const kernels::ConvGeometry& g, bool is_linear, Layer& r) {
  r.is_linear = is_linear;
  r.in_channels = g.in_channels;
  r.out_channels = g.out_channels;
  r.kernel_h = g.kernel_h;
  r.kernel_w = g.kernel_w;
  r.stride = g.stride;
  r.padding = g.padding;
  r.groups = g.groups;
}

// The integer form of one quantized Conv2d or Linear (a Linear is a 1x1 convolution of a 1x1
// image).
class QuantizedProductOp : public IntegerOp {
 public:
  struct Parts {
    std::string path;
    bool is_linear = false;
    kernels::ConvGeometry geometry;       // one image; H, W are filled per image
    FixedPointMultiplier to_codes;        // fixed point -> input codes: 2^-F / step_x
    int32_t code_low = 0, code_high = 0;  // the input code range
    std::vector<int16_t> weight_codes;    // (O, C/groups * kh * kw)
    std::vector<int32_t> bias;            // (O) in fixed point, added after requantization
    std::vector<FixedPointMultiplier>
        to_fixed;  // accumulator -> fixed point per output: step_x step_w[o] 2^F
  };
  explicit QuantizedProductOp(Parts parts) : p_(std::move(parts)) {}

  void run(IntActivation& x, Workspace& ws) const override {
    kernels::ConvGeometry geometry = p_.geometry;
    if (p_.is_linear) {
      LOWBIT_CHECK(x.dims.size() == 1 && x.dims[0] == geometry.in_channels,
                   "integer inference: ", p_.path, " expects ", geometry.in_channels,
                   " features, got ", x.numel(), " values");
      geometry.height = geometry.width = 1;
    } else {
      check_image(x, p_.path);
      LOWBIT_CHECK(x.dims[0] == geometry.in_channels, "integer inference: ", p_.path, " expects ",
                   geometry.in_channels, " channels, got ", x.dims[0]);
      geometry.height = x.dims[1];
      geometry.width = x.dims[2];
    }
    const int64_t n = x.numel();
    ws.codes.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = p_.to_codes.apply(x.values[static_cast<size_t>(i)]);
      ws.codes[static_cast<size_t>(i)] =
          static_cast<int16_t>(std::min<int64_t>(std::max<int64_t>(k, p_.code_low), p_.code_high));
    }
    const int64_t ho = geometry.out_height(), wo = geometry.out_width(), positions = ho * wo;
    ws.accumulators.resize(static_cast<size_t>(geometry.out_channels * positions));
    kernels::conv2d_int16(geometry, ws.codes.data(), p_.weight_codes.data(), ws.accumulators.data(),
                          ws.conv);
    x.dims = p_.is_linear ? std::vector<int64_t>{geometry.out_channels}
                          : std::vector<int64_t>{geometry.out_channels, ho, wo};
    x.values.resize(static_cast<size_t>(geometry.out_channels * positions));
    for (int64_t o = 0; o < geometry.out_channels; ++o)
      for (int64_t q = 0; q < positions; ++q) {
        const size_t i = static_cast<size_t>(o * positions + q);
        x.values[i] = clamp_counted(p_.to_fixed[static_cast<size_t>(o)].apply(ws.accumulators[i]) +
                                        p_.bias[static_cast<size_t>(o)],
                                    ws);
      }
  }
  int32_t emit(runtime::Program& program, int32_t input) const override {
    const int32_t output = append(program, OpKind::kProduct, {input});
    runtime::ProductOp& r = program.ops.back().product;
    set_geometry(p_.geometry, p_.is_linear, r);
    r.to_codes = p_.to_codes;
    r.code_low = p_.code_low;
    r.code_high = p_.code_high;
    r.weight_codes = p_.weight_codes;
    r.bias = p_.bias;
    r.to_fixed = p_.to_fixed;
    return output;
  }

 private:
  Parts p_;
};

// The int32 accumulator must hold any sum of `depth` products of input codes in [x_low, x_high] and
// weight codes up to max_weight_code in magnitude.
void check_accumulator(const std::string& path, int64_t depth, int64_t x_low, int64_t x_high,
                       int64_t max_weight_code) {
  const int64_t largest_x = std::max(std::abs(x_low), std::abs(x_high));
  const double largest = static_cast<double>(depth) * static_cast<double>(largest_x) *
                         static_cast<double>(max_weight_code);
  LOWBIT_CHECK(largest < 2147483647.0 && max_weight_code < 32768 && largest_x < 32768,
               "integer inference: ", path, " could overflow its int32 accumulator (", depth,
               " products of codes up to ", largest_x, " and ", max_weight_code, ")");
}

// The uniform quantizer behind a layer's weight quantizer (itself, or inside point-wise scales).
const UniformQuantizer* uniform_weight_quantizer(const Quantizer* q) {
  if (const auto* u = dynamic_cast<const UniformQuantizer*>(q)) return u;
  if (const auto* s = dynamic_cast<const PointwiseScaledQuantizer*>(q))
    return dynamic_cast<const UniformQuantizer*>(s->inner().get());
  return nullptr;
}

OpPtr compile_product(const std::string& path, Module& layer,
                      const std::shared_ptr<Quantizer>& input_quantizer,
                      const std::shared_ptr<Quantizer>& weight_quantizer, const Tensor& weight,
                      const Tensor& bias, const kernels::ConvGeometry& geometry, bool is_linear) {
  const auto* in = dynamic_cast<const UniformQuantizer*>(input_quantizer.get());
  const UniformQuantizer* wq = uniform_weight_quantizer(weight_quantizer.get());
  LOWBIT_CHECK(in != nullptr && wq != nullptr, "integer inference: ", path, " (", layer.type_name(),
               ") needs uniform input and weight quantizers (lowbit-quantize); it has ",
               input_quantizer ? input_quantizer->describe() : "no input quantizer", " and ",
               weight_quantizer ? weight_quantizer->describe() : "no weight quantizer");
  LOWBIT_CHECK(in->channels() == 1, "integer inference: ", path,
               "'s input quantizer has one threshold per channel (", in->describe(),
               "); integer products need one input scale per tensor");
  const int64_t outs = geometry.out_channels, depth = weight.numel() / outs;
  LOWBIT_CHECK(wq->channels() == 1 || wq->channels() == outs, "integer inference: ", path,
               "'s weight quantizer has ", wq->channels(), " thresholds for ", outs,
               " output channels");

  QuantizedProductOp::Parts p;
  p.path = path;
  p.is_linear = is_linear;
  p.geometry = geometry;
  const double step_x = in->steps()[0];
  const auto [x_low, x_high] = in->codes(0);
  p.code_low = static_cast<int32_t>(x_low);
  p.code_high = static_cast<int32_t>(x_high);
  p.to_codes = FixedPointMultiplier::from_real(step_x > 0 ? 1.0 / (kOne * step_x) : 0.0);

  // The weight codes: the quantizer's own output (point-wise scales included) over its step.
  Tensor quantized;
  {
    NoGradGuard no_grad;
    quantized = weight_quantizer->forward(weight);
  }
  const std::vector<float> steps = wq->steps();
  p.weight_codes.resize(static_cast<size_t>(weight.numel()));
  int64_t max_weight_code = 0;
  // The bias in fixed point. Eq. 20 puts it in accumulator units, round(b / (step_x step_w)); we
  // add it after the requantization instead, at 2^-F, because the simulated model adds its bias in
  // float and the accumulator unit is coarse at low bit widths (3 bits: step_x step_w ~ 0.02): eq.
  // 20's rounding was then the largest difference between the two models (the 3-bit LeNet-5 of
  // tests/lowbit_quantize_test.cpp: 98.7% of the predictions agreeing with eq. 20's bias, above the
  // test's 99.5% with this one). At 8 bits both are about as fine as the 2^-F the output is rounded
  // to anyway.
  p.bias.assign(static_cast<size_t>(outs), 0);
  if (bias.defined())
    for (int64_t o = 0; o < outs; ++o) {
      const double fixed = std::round(static_cast<double>(bias.data()[o]) * kOne);
      LOWBIT_CHECK(std::fabs(fixed) < 2147483647.0, "integer inference: ", path, " bias ", o, " = ",
                   bias.data()[o], " does not fit the fixed point (|b| < 2^",
                   31 - kIntegerFractionBits, ")");
      p.bias[static_cast<size_t>(o)] = static_cast<int32_t>(fixed);
    }
  p.to_fixed.resize(static_cast<size_t>(outs));
  for (int64_t o = 0; o < outs; ++o) {
    const double step_w = steps[static_cast<size_t>(wq->channels() == 1 ? 0 : o)];
    const auto [w_low, w_high] = wq->codes(wq->channels() == 1 ? 0 : o);
    for (int64_t j = 0; j < depth; ++j) {
      const double value = quantized.data()[o * depth + j];
      const double code = step_w > 0 ? std::rint(value / step_w) : 0.0;
      LOWBIT_CHECK(std::fabs(value - code * step_w) <= 1e-3 * step_w + 1e-12 && code >= w_low &&
                       code <= w_high,
                   "integer inference: ", path, " weight ", o * depth + j, " = ", value,
                   " is not on its grid (step ", step_w, ", codes ", w_low, "..", w_high, ")");
      p.weight_codes[static_cast<size_t>(o * depth + j)] = static_cast<int16_t>(code);
    }
    max_weight_code = std::max({max_weight_code, std::abs(w_low), std::abs(w_high)});
    p.to_fixed[static_cast<size_t>(o)] = FixedPointMultiplier::from_real(step_x * step_w * kOne);
  }
  check_accumulator(path, depth, x_low, x_high, max_weight_code);
  return std::make_unique<QuantizedProductOp>(std::move(p));
}

// A Conv2d or Linear of a power-of-two network (pow2_integer.h): grid or float weights, no
// quantizers, reading values of a known range, with the BN that follows it (or null) folded into
// its per-channel requantization and bias:
//   y[o] = (sum x w[o] + b[o]) scale[o] + shift[o]
//        = to_fixed[o](sum k_x k_w[o]) + round((b[o] scale[o] + shift[o]) 2^F)
// with to_fixed[o] = step_x step_w[o] |scale[o]| 2^F and channel o's weight codes negated where
// scale[o] < 0 (a fixed-point multiplier is positive; the grid and the float codes are symmetric).
// With `negated` (threshold folding: BN and activation become the ThresholdsOp after it), no BN
// and no bias: y[o] = +-sum k_x k_w[o], the accumulator itself (to_fixed 1 exactly), negated on the
// channels `negated` names.
OpPtr compile_pow2_product(const std::string& path, const Tensor& weight, const Tensor& bias,
                           const kernels::ConvGeometry& geometry, bool is_linear,
                           const BatchNorm* bn, const ValueRange& range, bool on_grid, int min_exp,
                           int& float_bits, const std::vector<bool>* negated = nullptr) {
  const InputCodes in = input_codes(range, kIntegerFractionBits);
  const int64_t outs = geometry.out_channels, depth = weight.numel() / outs;
  const int64_t largest_x = std::max(std::abs(in.low), std::abs(in.high));
  WeightCodes w = on_grid ? pow2_weight_codes(path, weight, outs, min_exp)
                          : float_weight_codes(path, weight, outs, largest_x);
  float_bits = w.bits;
  const ChannelAffine affine = batch_norm_affine(bn, outs);
  QuantizedProductOp::Parts p;
  p.path = path;
  p.is_linear = is_linear;
  p.geometry = geometry;
  p.to_codes = in.to_codes;
  p.code_low = in.low;
  p.code_high = in.high;
  int64_t max_weight_code = 0;
  for (int64_t o = 0; o < outs; ++o) {
    const double scale = negated ? ((*negated)[static_cast<size_t>(o)] ? -1.0 : 1.0)
                                 : affine.scale[static_cast<size_t>(o)];
    for (int64_t j = 0; j < depth; ++j) {
      int16_t& code = w.codes[static_cast<size_t>(o * depth + j)];
      if (scale < 0) code = static_cast<int16_t>(-code);
      max_weight_code = std::max<int64_t>(max_weight_code, std::abs(code));
    }
    p.to_fixed.push_back(FixedPointMultiplier::from_real(
        negated ? 1.0 : in.step * w.steps[static_cast<size_t>(o)] * std::fabs(scale) * kOne));
    const double b = (bias.defined() ? static_cast<double>(bias.data()[o]) : 0.0) * scale +
                     affine.shift[static_cast<size_t>(o)];
    const double fixed = std::round(b * kOne);
    LOWBIT_CHECK(std::fabs(fixed) < 2147483647.0, "integer inference: ", path, " bias ", o,
                 " (BN folded) = ", b, " does not fit the fixed point (|b| < 2^",
                 31 - kIntegerFractionBits, ")");
    p.bias.push_back(static_cast<int32_t>(fixed));
  }
  p.weight_codes = std::move(w.codes);
  check_accumulator(path, depth, in.low, in.high, max_weight_code);
  return std::make_unique<QuantizedProductOp>(std::move(p));
}

class Compiler {
 public:
  std::vector<std::string> layers, float_layers;
  const Pow2Weights* pow2 = nullptr;  // set: a power-of-two network (pow2_integer.h)
  // What is known of the values the next module reads (power-of-two networks: their layers have
  // no input quantizer to say it); unset when nothing is.
  std::optional<ValueRange> range;

  OpPtr compile(Module& m, const std::string& path) {
    const std::string where = path.empty() ? std::string("the model") : path;
    if (dynamic_cast<Sequential*>(&m)) {  // also a ResNet
      std::vector<std::string> names;
      for (const auto& entry : m.children()) names.push_back(entry.first);
      return sequence(m, path, names);
    }
    if (auto* g = dynamic_cast<GraphModel*>(&m)) {
      range.reset();
      OpPtr op = graph(*g, path);
      range.reset();
      return op;
    }
    if (auto* b = dynamic_cast<ResidualBlock*>(&m)) {  // BasicBlock, Bottleneck (models/resnet.h)
      LOWBIT_CHECK(b->input_activation().empty(), "integer inference: ", where,
                   " has its activation at the branch's input (residual_act branch-input); "
                   "expected it after the addition, as the published ResNets");
      const std::optional<ValueRange> input = range;
      // Threshold folding of the branch's last layer, BN, the sum and the activation, when the
      // shortcut carries levels (the identity or option A on levels: projections add a second
      // accumulator's BN, which no one-dimensional threshold captures).
      std::vector<std::string> names = b->branch();
      auto* activation = dynamic_cast<Pow2Activation*>(&m.child(b->activation()));
      const bool levels_shortcut =
          b->shortcut().empty() || dynamic_cast<PadChannelsShortcut*>(&m.child(b->shortcut()));
      if (pow2 && activation && levels_shortcut && input && !input->levels.empty() &&
          names.size() >= 2) {
        const std::string last = names[names.size() - 2];
        auto* bn = dynamic_cast<BatchNorm*>(&m.child(names.back()));
        names.resize(names.size() - 2);
        const size_t layer_count = layers.size(), float_count = float_layers.size();
        OpPtr head = sequence(m, path, names);
        std::unique_ptr<ThresholdsOp> thresholds;
        OpPtr product = bn ? folded_product(m.child(last), child_path(path, last), *bn, *activation,
                                            input->levels, thresholds)
                           : nullptr;
        if (product) {
          range = input;
          OpPtr shortcut = b->shortcut().empty() ? nullptr : child(m, path, b->shortcut());
          range = pow2_activation_range(*activation, kIntegerFractionBits);
          std::vector<OpPtr> body;
          body.push_back(std::move(head));
          body.push_back(std::move(product));
          return std::make_unique<ResidualOp>(std::make_unique<SequenceOp>(std::move(body)),
                                              std::move(shortcut), nullptr, std::move(thresholds));
        }
        layers.resize(layer_count);  // compiled again below
        float_layers.resize(float_count);
        range = input;
      }
      if (pow2 && activation && !levels_shortcut && input && !input->levels.empty() &&
          names.size() >= 2) {
        OpPtr joined = projection_join(m, *b, path, *input, *activation);
        if (joined) return joined;
        range = input;
      }
      OpPtr branch = sequence(m, path, b->branch());
      range = input;
      OpPtr shortcut = b->shortcut().empty() ? nullptr : child(m, path, b->shortcut());
      range.reset();  // a sum
      OpPtr after = child(m, path, b->activation());
      return std::make_unique<ResidualOp>(std::move(branch), std::move(shortcut), std::move(after));
    }
    if (auto* b = dynamic_cast<InvertedResidual*>(&m)) {
      OpPtr body = child(m, path, "conv");
      if (!b->residual()) return body;
      range.reset();
      return std::make_unique<ResidualOp>(std::move(body), nullptr, nullptr);
    }
    if (dynamic_cast<Conv2d*>(&m) || dynamic_cast<Linear*>(&m)) return product(m, where, nullptr);
    if (dynamic_cast<ReLU*>(&m)) {
      if (range) range->low = std::max<int64_t>(range->low, 0);
      return std::make_unique<ClampOp>(INT32_MAX);
    }
    if (dynamic_cast<ReLU6*>(&m)) {
      if (range && range->bound > 6) range = ValueRange{6.0};
      if (range) range->low = std::max<int64_t>(range->low, 0);
      return std::make_unique<ClampOp>(6 << kIntegerFractionBits);
    }
    if (auto* a = dynamic_cast<Pow2Activation*>(&m)) {
      range = pow2_activation_range(*a, kIntegerFractionBits);
      return std::make_unique<LevelsOp>(pow2_level_map(*a, kIntegerFractionBits));
    }
    if (auto* p = dynamic_cast<MaxPool2d*>(&m))  // the max of levels is a level
      return std::make_unique<PoolOp>(where, true, p->kernel(), p->stride(), p->padding());
    if (auto* p = dynamic_cast<AvgPool2d*>(&m)) {
      averaged();
      return std::make_unique<PoolOp>(where, false, p->kernel(), p->stride(), p->padding());
    }
    if (dynamic_cast<GlobalAvgPool*>(&m)) {
      averaged();
      return std::make_unique<GlobalAvgPoolOp>(where);
    }
    if (auto* s = dynamic_cast<PadChannelsShortcut*>(&m))  // pads with 0, a level
      return std::make_unique<PadChannelsOp>(where, s->out_channels(), s->stride());
    if (dynamic_cast<Flatten*>(&m)) return std::make_unique<FlattenOp>();
    if (auto* r = dynamic_cast<Reshape*>(&m)) return std::make_unique<ReshapeOp>(where, r->dims());
    if (dynamic_cast<Identity*>(&m) || dynamic_cast<Dropout*>(&m))
      return std::make_unique<IdentityOp>();
    throw Error(concat("integer inference: ", where, " is a ", m.type_name(),
                       m.type_name() == "BatchNorm"
                           ? concat(" that is not folded; expected fold_batch_norms first",
                                    pow2 ? " (or a convolution or linear layer before it)" : "")
                           : ", which has no integer form here"));
  }

 private:
  // An average of values in a range stays in it, but off the levels' steps.
  void averaged() {
    if (range) range = ValueRange{range->bound};
  }

  // A Conv2d's or Linear's weight, bias and geometry (a Linear: a 1x1 convolution of a 1x1 image).
  struct LayerParts {
    kernels::ConvGeometry geometry;
    Tensor weight, bias;
    bool is_linear = false;
    bool quantized = false;  // it has an input or weight quantizer
    bool on_grid = false;    // its weight is a grid parameter of a power-of-two network
  };
  LayerParts layer_parts(Module& m) const {
    LayerParts p;
    if (auto* c = dynamic_cast<Conv2d*>(&m)) {
      p.geometry.in_channels = c->in_channels();
      p.geometry.out_channels = c->out_channels();
      p.geometry.kernel_h = p.geometry.kernel_w = c->kernel_size();
      p.geometry.stride = c->options().stride;
      p.geometry.padding = c->options().padding;
      p.geometry.groups = c->options().groups;
      p.weight = c->weight();
      p.bias = c->bias();
    } else {
      auto* l = dynamic_cast<Linear*>(&m);
      p.geometry.in_channels = l->weight().size(1);
      p.geometry.out_channels = l->weight().size(0);
      p.weight = l->weight();
      p.bias = l->bias();
      p.is_linear = true;
    }
    auto* layer = dynamic_cast<QuantizableLayer*>(&m);
    p.quantized = layer->input_quantizer() || layer->weight_quantizer();
    p.on_grid = pow2 && std::any_of(pow2->grid.begin(), pow2->grid.end(), [&](const Parameter& g) {
                  return g.tensor.impl() == p.weight.impl();
                });
    return p;
  }

  // A Conv2d or Linear, with the BN that follows it (power-of-two networks) or none.
  OpPtr product(Module& m, const std::string& where, const BatchNorm* bn) {
    layers.push_back(where);
    auto* layer = dynamic_cast<QuantizableLayer*>(&m);
    const LayerParts l = layer_parts(m);
    if (!pow2 || l.quantized) {
      range.reset();
      return compile_product(where, m, layer->input_quantizer(), layer->weight_quantizer(),
                             l.weight, l.bias, l.geometry, l.is_linear);
    }
    LOWBIT_CHECK(range.has_value(), "integer inference: ", where, " (", m.type_name(),
                 ") reads values of no known range; expected the image, or a power-of-two "
                 "activation's levels (pooled, padded or flattened) before it");
    int bits = 0;
    OpPtr op = compile_pow2_product(where, l.weight, l.bias, l.geometry, l.is_linear, bn, *range,
                                    l.on_grid, pow2->min_exp, bits);
    if (!l.on_grid) float_layers.push_back(concat(where, ": ", bits, "-bit weights"));
    range.reset();
    return op;
  }

  // A Conv2d or Linear of grid weights without bias reading levels, its BN and activation (and
  // before it the sum with a shortcut of `shortcut` levels, if any) folded into thresholds on its
  // accumulator (threshold_folding.h): the raw product, with `thresholds` set. Null, with nothing
  // compiled, where that would not be exact (other layers, or float sums that round).
  OpPtr folded_product(Module& m, const std::string& where, const BatchNorm& bn,
                       Pow2Activation& activation, const std::vector<LevelValue>& shortcut,
                       std::unique_ptr<ThresholdsOp>& thresholds) {
    if (!pow2 || !range) return nullptr;
    if (!dynamic_cast<Conv2d*>(&m) && !dynamic_cast<Linear*>(&m)) return nullptr;
    const LayerParts l = layer_parts(m);
    if (l.quantized || l.bias.defined()) return nullptr;
    if (!l.on_grid) return shortcut.empty() ? wide_product(l, where, bn, activation) : nullptr;
    std::optional<ThresholdLayer> sums = exact_grid_sums(l, where);
    if (!sums) return nullptr;
    ThresholdLayer& t = *sums;
    t.bn = &bn;
    t.activation = &activation;
    t.shortcut = shortcut;
    if (!exact_float_sums(t)) return nullptr;
    FoldedThresholds folded = fold_thresholds(t, kIntegerFractionBits);
    layers.push_back(where);
    int bits = 0;
    OpPtr op = compile_pow2_product(where, l.weight, l.bias, l.geometry, l.is_linear, nullptr,
                                    *range, true, pow2->min_exp, bits, &folded.negated);
    thresholds = std::make_unique<ThresholdsOp>(std::move(folded.map));
    range.reset();
    return op;
  }

  // A grid layer reading the levels of `range`: its channels, the largest |accumulator| and the
  // float steps of its input and weights (ThresholdLayer's first fields), or nothing when the
  // input is not levels.
  std::optional<ThresholdLayer> exact_grid_sums(const LayerParts& l, const std::string& where) {
    if (!range || range->levels.empty()) return std::nullopt;
    const int64_t outs = l.geometry.out_channels, depth = l.weight.numel() / outs;
    const InputCodes in = input_codes(*range, kIntegerFractionBits);
    const WeightCodes w = pow2_weight_codes(where, l.weight, outs, pow2->min_exp);
    int64_t largest_w = 0;
    for (int16_t c : w.codes) largest_w = std::max<int64_t>(largest_w, std::abs(c));
    ThresholdLayer t;
    t.channels = outs;
    t.bound = depth * std::max(std::abs(in.low), std::abs(in.high)) * largest_w;
    t.step_w = std::ldexp(1.0f, pow2->min_exp);
    for (const LevelValue& v : range->levels)  // the float step: the first positive level
      if (v.value > 0 && (t.step_x == 0 || v.value < t.step_x)) t.step_x = v.value;
    if (t.step_x == 0) return std::nullopt;
    return t;
  }

  // A Conv2d of grid weights without bias reading levels, as its raw accumulator (to_fixed 1, no
  // bias), and the float value of one accumulator unit in the simulation (step_x step_w). Null,
  // with nothing compiled, where the simulation's float32 sums would not be exact.
  OpPtr raw_product(Module& m, const std::string& where, float& step_x, float& step_w) {
    if (!pow2 || !range || range->levels.empty() || !dynamic_cast<Conv2d*>(&m)) return nullptr;
    const LayerParts l = layer_parts(m);
    if (l.quantized || l.bias.defined() || !l.on_grid) return nullptr;
    const std::optional<ThresholdLayer> t = exact_grid_sums(l, where);
    if (!t || !exact_float_sums(*t)) return nullptr;
    step_x = t->step_x;
    step_w = t->step_w;
    layers.push_back(where);
    int bits = 0;
    const std::vector<bool> none(static_cast<size_t>(t->channels), false);
    OpPtr op = compile_pow2_product(where, l.weight, l.bias, l.geometry, l.is_linear, nullptr,
                                    *range, true, pow2->min_exp, bits, &none);
    range.reset();
    return op;
  }

  // A residual block whose shortcut is a projection (1x1 convolution and BN) on levels: the
  // branch's last convolution and the shortcut's as raw accumulators, joined by the simulation's
  // float32 BN, sum and activation (core/runtime/float_join.h), exactly where threshold folding
  // cannot go. Null, with nothing compiled, where the sums would not be exact.
  OpPtr projection_join(Module& m, ResidualBlock& b, const std::string& path,
                        const ValueRange& input, Pow2Activation& activation) {
    std::vector<std::string> names = b.branch();
    auto* bn = dynamic_cast<BatchNorm*>(&m.child(names.back()));
    auto* projection = dynamic_cast<Sequential*>(&m.child(b.shortcut()));
    if (!bn || !projection || projection->children().size() != 2) return nullptr;
    const std::string conv_name = projection->children()[0].first,
                      bn_name = projection->children()[1].first;
    auto* shortcut_bn = dynamic_cast<BatchNorm*>(&projection->child(bn_name));
    if (!shortcut_bn) return nullptr;
    const std::string last = names[names.size() - 2];
    names.resize(names.size() - 2);
    const size_t layer_count = layers.size(), float_count = float_layers.size();
    range = input;
    OpPtr head = sequence(m, path, names);
    runtime::FloatJoin j;
    OpPtr body = raw_product(m.child(last), child_path(path, last), j.step_x[0], j.step_w[0]);
    range = input;
    OpPtr shortcut = body ? raw_product(projection->child(conv_name),
                                        child_path(child_path(path, b.shortcut()), conv_name),
                                        j.step_x[1], j.step_w[1])
                          : nullptr;
    if (!body || !shortcut) {
      layers.resize(layer_count);  // compiled again by the caller
      float_layers.resize(float_count);
      return nullptr;
    }
    j.channels = bn->channels();
    for (int i = 0; i < 2; ++i) {
      const BatchNorm& n = i == 0 ? *bn : *shortcut_bn;
      j.scale[i].resize(static_cast<size_t>(j.channels));
      j.shift[i].resize(static_cast<size_t>(j.channels));
      for (int64_t c = 0; c < j.channels; ++c)
        kernels::batch_norm_eval_affine(n.weight().defined() ? n.weight().data() : nullptr,
                                        n.bias().defined() ? n.bias().data() : nullptr,
                                        n.running_mean().data(), n.running_var().data(), n.eps(), c,
                                        j.scale[i][size_t(c)], j.shift[i][size_t(c)]);
    }
    for (const LevelValue& l : pow2_level_values(activation, kIntegerFractionBits))
      j.levels.push_back(l.fixed);
    j.thresholds = activation_float_thresholds(activation, kIntegerFractionBits);
    const std::string error = runtime::float_join_params_error(j.params());
    LOWBIT_CHECK(error.empty(), "integer inference: ", path, ": float join: ", error);
    range = pow2_activation_range(activation, kIntegerFractionBits);
    std::vector<OpPtr> branch;
    branch.push_back(std::move(head));
    branch.push_back(std::move(body));
    return std::make_unique<ResidualOp>(std::make_unique<SequenceOp>(std::move(branch)),
                                        std::move(shortcut), nullptr,
                                        std::make_unique<FloatJoinOp>(std::move(j)));
  }

  // A float layer without bias, its BN and activation as a wide product
  // (core/runtime/thresholds.h): the fixed-point input times per-channel int32 weight codes at the
  // most bits the int64 sums allow (24), thresholds on the int64 accumulators from the simulation's
  // BN and activation. Exact where the simulation evaluates the layer with the same integer sums
  // (Conv2dOptions::wide_sums, set by use_wide_sums on a power-of-two network's float first
  // convolution); elsewhere (a float first Linear) nearly exact: float32 sums in the simulation's
  // own order are off by about 2^-24 of the values, so a level differs only where its BN output
  // lies that close to a threshold.
  OpPtr wide_product(const LayerParts& l, const std::string& where, const BatchNorm& bn,
                     Pow2Activation& activation) {
    runtime::WideProduct p;
    const kernels::ConvGeometry& g = l.geometry;
    set_geometry(g, l.is_linear, p);
    const int64_t outs = g.out_channels, depth = p.depth();
    const int64_t limit = runtime::wide_weight_limit(depth);
    ThresholdLayer t;
    t.channels = outs;
    // The largest accumulator of inputs within the range's bound (larger ones, out of any image's
    // range, still take the nearest thresholds' levels).
    t.bound = depth * limit * static_cast<int64_t>(std::ceil(range->bound * kOne) + 1);
    t.bn = &bn;
    t.activation = &activation;
    std::vector<double> steps;
    for (int64_t o = 0; o < outs; ++o) {
      steps.push_back(runtime::wide_weight_step(l.weight.data() + o * depth, depth));
      t.units.push_back(steps.back() / kOne);
    }
    FoldedThresholds folded = fold_thresholds(t, kIntegerFractionBits);
    for (int64_t o = 0; o < outs; ++o) {
      const int32_t sign = folded.negated[size_t(o)] ? -1 : 1;
      for (int64_t j = 0; j < depth; ++j)
        p.weights.push_back(
            sign * runtime::wide_weight_code(l.weight.data()[o * depth + j], steps[size_t(o)]));
    }
    p.thresholds = std::move(folded.map);
    layers.push_back(where);
    int bits = 1;
    while ((int64_t{1} << (bits - 1)) <= limit) ++bits;
    float_layers.push_back(concat(where, ": ", bits, "-bit weights"));
    range.reset();
    return std::make_unique<WideProductOp>(where, std::move(p));
  }

  OpPtr child(Module& m, const std::string& path, const std::string& name) {
    return compile(m.child(name), child_path(path, name));
  }
  OpPtr graph(GraphModel& g, const std::string& path) {
    std::vector<GraphOp::Step> steps;
    for (const GraphModel::Step& s : g.steps())
      steps.push_back(
          {s.kind, s.kind == GraphModel::Step::Kind::kModule ? child(g, path, s.module) : nullptr,
           s.inputs, s.axis});
    return std::make_unique<GraphOp>(std::move(steps), g.output());
  }
  // The children `names` of m in order; in a power-of-two network, a BatchNorm right after a
  // Conv2d or Linear without quantizers is folded into it.
  OpPtr sequence(Module& m, const std::string& path, const std::vector<std::string>& names) {
    std::vector<OpPtr> ops;
    for (size_t k = 0; k < names.size(); ++k) {
      Module& module = m.child(names[k]);
      const auto* layer = dynamic_cast<QuantizableLayer*>(&module);
      const bool plain = pow2 &&
                         (dynamic_cast<Conv2d*>(&module) || dynamic_cast<Linear*>(&module)) &&
                         !layer->input_quantizer() && !layer->weight_quantizer();
      const BatchNorm* bn = plain && k + 1 < names.size()
                                ? dynamic_cast<BatchNorm*>(&m.child(names[k + 1]))
                                : nullptr;
      if (!bn) {
        ops.push_back(child(m, path, names[k]));
        continue;
      }
      auto* activation =
          k + 2 < names.size() ? dynamic_cast<Pow2Activation*>(&m.child(names[k + 2])) : nullptr;
      std::unique_ptr<ThresholdsOp> thresholds;
      OpPtr folded = activation ? folded_product(module, child_path(path, names[k]), *bn,
                                                 *activation, {}, thresholds)
                                : nullptr;
      if (folded) {  // the BN and the activation are folded
        ops.push_back(std::move(folded));
        if (thresholds) ops.push_back(std::move(thresholds));
        range = pow2_activation_range(*activation, kIntegerFractionBits);
        k += 2;
        continue;
      }
      ops.push_back(product(module, child_path(path, names[k]), bn));
      ++k;  // the BN is folded
    }
    return std::make_unique<SequenceOp>(std::move(ops));
  }
};

}  // namespace

IntegerModel::IntegerModel(Module& model, std::optional<Pow2Weights> pow2) {
  {
    // The model is compiled in evaluation mode and gets its own mode back also when it is refused.
    const ModeGuard mode(model, false);
    Compiler compiler;
    if (pow2) {
      compiler.pow2 = &*pow2;
      compiler.range = ValueRange{pow2->input_bound};  // the image
    }
    program_ = compiler.compile(model, "");
    layers_ = std::move(compiler.layers);
    float_layers_ = std::move(compiler.float_layers);
  }
  eval();
}

IntegerModel::~IntegerModel() = default;

runtime::Program IntegerModel::program() const {
  runtime::Program program;
  const int32_t output = program_->emit(program, 0);
  // The logits must be the last operation's output (a graph may end on an earlier value, a model
  // on an identity): a flatten makes them so, and is what forward() returns anyway.
  if (program.ops.empty() || output != program.ops.back().output)
    append(program, OpKind::kFlatten, {output});
  return program;
}

Tensor IntegerModel::forward(const Tensor& images) {
  LOWBIT_CHECK(images.rank() >= 2, "IntegerModel: input shape ", images.shape().str(),
               "; expected (N, ...)");
  const int64_t n = images.size(0), per_image = images.numel() / std::max<int64_t>(n, 1);
  std::vector<int64_t> image_dims(images.shape().dims().begin() + 1, images.shape().dims().end());
  std::vector<std::vector<float>> logits(static_cast<size_t>(n));
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    Workspace ws;
    IntActivation x;
    for (int64_t i = begin; i < end; ++i) {
      x.dims = image_dims;
      x.values.resize(static_cast<size_t>(per_image));
      const float* image = images.data() + i * per_image;
      for (int64_t j = 0; j < per_image; ++j)  // the input boundary: float to fixed point
        x.values[static_cast<size_t>(j)] =
            clamp_counted(std::llround(static_cast<double>(image[j]) * kOne), ws);
      program_->run(x, ws);
      std::vector<float>& out = logits[static_cast<size_t>(i)];
      out.resize(x.values.size());
      for (size_t j = 0; j < x.values.size(); ++j) out[j] = static_cast<float>(x.values[j] / kOne);
    }
    saturated_ += ws.saturated;
  });
  const int64_t classes = n > 0 ? static_cast<int64_t>(logits[0].size()) : 0;
  Tensor result = Tensor::empty({n, classes});
  for (int64_t i = 0; i < n; ++i)
    std::copy(logits[i].begin(), logits[i].end(), result.data() + i * classes);
  return result;
}

}  // namespace lowbit
