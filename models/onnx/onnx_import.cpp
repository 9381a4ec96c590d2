// ONNX import: one pass over the graph's nodes in file order (ONNX requires a topological order).
// Initializers and Constant nodes are constants; every other value is a GraphModel value. Each
// node becomes one lowbit module, a sum or a concatenation, or is refused.
//
// Readings chosen where ONNX allows more than lowbit computes:
// - Conv, MaxPool, AveragePool: square kernels, equal strides, equal padding on all four sides and
//   no dilation, as lowbit's layers take them; anything else is refused, not approximated.
// - AveragePool with padding counts the padded zeros (count_include_pad = 1, PyTorch's default);
//   count_include_pad = 0 with padding is refused.
// - GlobalAveragePool keeps ONNX's (N, C, 1, 1) output: lowbit's GlobalAvgPool, which gives (N, C),
//   followed by a Reshape to (N, C, 1, 1).
// - Reshape's shape must be a constant, or computed from constants and Shape. PyTorch folds
//   x.view(x.size(0), -1) into the constant (B, -1) for the batch size B it traced with; a first
//   dimension equal to a fixed batch size of the graph input is read as "keep the batch" (0), so
//   the model runs on any batch size. With a dynamic batch (dynamic_axes) PyTorch writes the chain
//   Shape, Gather, Unsqueeze, Concat instead: these nodes (and Squeeze, and Cast to int64) are
//   computed while importing, on int64 constants. Shape takes the value's dimensions from a run of
//   the graph so far on one zero image, with the batch dimension as a symbol; a Reshape reads the
//   symbol as its first dimension as "keep the batch" (0), and refuses it anywhere else.
// - Pad (constant zeros, the same on the four spatial sides) is kept for the pooling or conv it
//   feeds, which takes it as its own padding: PyTorch exports avg_pool2d(padding=p) as Pad +
//   AveragePool. That consumer must have no padding of its own; no-op pads are dropped.
// - MatMul by a constant (K, N) is a Linear without bias; an Add of a constant (N) that is the
//   MatMul's only consumer becomes that Linear's bias.
// - QDQ (QuantizeLinear + DequantizeLinear): the pair on an activation, per tensor, becomes a
//   QuantizeDequantize module (layers/quant/quantize_dequantize.h) with ONNX's rounding; a
//   DequantizeLinear of constant codes is computed while importing, so the layer gets the float
//   values of its quantized weight. A QuantizeLinear whose output feeds anything but its
//   DequantizeLinear is refused.
// - Dropout becomes lowbit's Dropout with the node's ratio (inactive in evaluation, as in ONNX).
#include "models/onnx/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "core/autograd.h"
#include "core/check.h"
#include "core/input_file.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/identity.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/quant/quantize_dequantize.h"
#include "layers/reshape.h"
#include "layers/shortcut.h"

namespace lowbit {
namespace {

// A constant: float data or int64 data with its dimensions.
struct Constant {
  std::vector<int64_t> dims;
  std::vector<float> floats;
  std::vector<int64_t> ints;  // int64, and the int8/uint8/int32 codes of quantized tensors
  bool is_float = true;
  int32_t data_type = onnx::TensorProto::FLOAT;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

template <class T>
std::vector<T> raw_values(const std::string& raw, int64_t count, const std::string& where) {
  LOWBIT_CHECK(raw.size() == static_cast<size_t>(count) * sizeof(T), where, ": raw_data holds ",
               raw.size(), " bytes; expected ", count * static_cast<int64_t>(sizeof(T)));
  std::vector<T> values(static_cast<size_t>(count));
  if (count > 0) std::memcpy(values.data(), raw.data(), raw.size());  // ONNX: little-endian
  return values;
}

Constant read_tensor(const onnx::TensorProto& t, const std::string& where) {
  LOWBIT_CHECK(t.data_location() != onnx::TensorProto::EXTERNAL, where, ": tensor '", t.name(),
               "' keeps its data in an external file; expected the data inside the model");
  Constant c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  const int64_t n = c.numel();
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    c.floats = t.has_raw_data() ? raw_values<float>(t.raw_data(), n, where)
                                : std::vector<float>(t.float_data().begin(), t.float_data().end());
    LOWBIT_CHECK(static_cast<int64_t>(c.floats.size()) == n, where, ": tensor '", t.name(),
                 "' holds ", c.floats.size(), " floats; expected ", n);
  } else if (t.data_type() == onnx::TensorProto::INT64) {
    c.is_float = false;
    c.ints = t.has_raw_data() ? raw_values<int64_t>(t.raw_data(), n, where)
                              : std::vector<int64_t>(t.int64_data().begin(), t.int64_data().end());
    LOWBIT_CHECK(static_cast<int64_t>(c.ints.size()) == n, where, ": tensor '", t.name(),
                 "' holds ", c.ints.size(), " integers; expected ", n);
  } else if (t.data_type() == onnx::TensorProto::INT8 ||
             t.data_type() == onnx::TensorProto::UINT8 ||
             t.data_type() == onnx::TensorProto::INT32) {
    // Quantized codes: raw bytes of their type, or (ONNX's rule for the small types) int32_data.
    c.is_float = false;
    if (!t.has_raw_data()) {
      c.ints.assign(t.int32_data().begin(), t.int32_data().end());
    } else if (t.data_type() == onnx::TensorProto::INT8) {
      for (int8_t v : raw_values<int8_t>(t.raw_data(), n, where)) c.ints.push_back(v);
    } else if (t.data_type() == onnx::TensorProto::UINT8) {
      for (uint8_t v : raw_values<uint8_t>(t.raw_data(), n, where)) c.ints.push_back(v);
    } else {
      for (int32_t v : raw_values<int32_t>(t.raw_data(), n, where)) c.ints.push_back(v);
    }
    LOWBIT_CHECK(static_cast<int64_t>(c.ints.size()) == n, where, ": tensor '", t.name(),
                 "' holds ", c.ints.size(), " integers; expected ", n);
  } else {
    throw Error(concat(where, ": tensor '", t.name(), "' has ONNX data type ", t.data_type(),
                       "; expected float (1), int64 (7), or int8 (3), uint8 (2), int32 (6) codes"));
  }
  c.data_type = t.data_type();
  return c;
}

// The names a module may take as a child: no '.', unique, never empty.
std::string layer_name(const onnx::NodeProto& node, size_t index) {
  std::string name =
      node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
  std::string out;
  for (char ch : name) out += (ch == '.' || ch == '/' || ch == ':' || ch == ' ') ? '_' : ch;
  const size_t first = out.find_first_not_of('_');
  return first == std::string::npos ? node.op_type() + "_" + std::to_string(index)
                                    : out.substr(first);
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string source)
      : model_(model), graph_(model.graph()), source_(std::move(source)) {}

  OnnxImport run();

 private:
  // Attributes and inputs of the node being imported.
  const onnx::AttributeProto* attribute(const std::string& name) const;
  int64_t int_attribute(const std::string& name, int64_t fallback) const;
  float float_attribute(const std::string& name, float fallback) const;
  std::vector<int64_t> ints_attribute(const std::string& name, std::vector<int64_t> fallback) const;
  bool has_input(int i) const { return i < node_->input_size() && !node_->input(i).empty(); }
  GraphModel::Value value(int i) const;
  const Constant& constant(int i) const;
  bool is_constant(int i) const { return has_input(i) && constants_.count(node_->input(i)) > 0; }
  std::string where() const;

  void import_node();
  // Adds `module` on x as the layer of the current node (its first output); returns that value.
  GraphModel::Value add_layer(std::shared_ptr<Module> module, GraphModel::Value x,
                              const std::string& suffix = "");
  // A square kernel, equal strides, the same padding on every side, no dilation.
  struct Window {
    int64_t kernel = 0, stride = 1, padding = 0;
  };
  Window window(int64_t kernel_from_weight) const;
  void import_conv();
  void import_batch_norm();
  void import_clip();
  void import_pool(bool max);
  void import_reshape();
  void import_gemm();
  void import_matmul();
  void import_add();
  void import_pad();
  void import_slice();
  void import_pad_channels(int64_t added);
  // QDQ: QuantizeLinear of a value waits for its DequantizeLinear, and the pair becomes one
  // QuantizeDequantize; DequantizeLinear of constant codes is a constant (a quantized weight).
  void import_quantize();
  void import_dequantize();
  // Shape arithmetic on int64 constants (see the top of this file).
  void import_shape();
  void import_gather();
  void import_unsqueeze(bool squeeze);
  void import_cast();
  bool import_constant_concat();
  // The dimensions of value v for one image, from a run of the graph built so far.
  std::vector<int64_t> probe_dims(GraphModel::Value v) const;
  // The input of a padded layer: a pending Pad's input (and its padding added to `padding`), or
  // input 0.
  GraphModel::Value padded_input(int64_t& padding) const;
  void copy_into(const Tensor& dst, const std::vector<float>& src, const char* what) const;

  const onnx::ModelProto& model_;
  const onnx::GraphProto& graph_;
  std::string source_;
  std::shared_ptr<GraphModel> g_ = std::make_shared<GraphModel>();
  std::map<std::string, Constant> constants_;
  std::map<std::string, GraphModel::Value> values_;
  std::map<std::string, int> consumers_;
  std::set<std::string> layer_names_;
  // Linear layers made from a MatMul, by output name, that an Add may give a bias.
  std::map<std::string, std::shared_ptr<Linear>> bias_free_linears_;
  // QuantizeLinear outputs waiting for their DequantizeLinear: name -> (input, scale, zero point,
  // code range).
  struct PendingQuantize {
    GraphModel::Value x;
    float scale;
    int64_t zero_point, low, high;
  };
  std::map<std::string, PendingQuantize> pending_quantize_;
  // Slice outputs (x[:, :, ::s, ::s]) waiting for the Pad of channels that completes an option-A
  // shortcut: name -> (the Slice's input, s).
  std::map<std::string, std::pair<GraphModel::Value, int64_t>> pending_slices_;
  // Pad outputs waiting for the layer they feed: name -> (the Pad's input, spatial padding).
  std::map<std::string, std::pair<GraphModel::Value, int64_t>> pending_pads_;
  const onnx::NodeProto* node_ = nullptr;
  size_t index_ = 0;
  int64_t traced_batch_ = 0;
  std::vector<int64_t> input_dims_;
  int64_t opset_ = 0;
};

// The batch size in shapes computed while importing: unknown until the model runs.
constexpr int64_t kBatch = std::numeric_limits<int64_t>::min();

std::string Importer::where() const {
  return source_ + ": node '" + node_->name() + "' (" + node_->op_type() + ")";
}

const onnx::AttributeProto* Importer::attribute(const std::string& name) const {
  for (const onnx::AttributeProto& a : node_->attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t Importer::int_attribute(const std::string& name, int64_t fallback) const {
  const onnx::AttributeProto* a = attribute(name);
  return a ? a->i() : fallback;
}

float Importer::float_attribute(const std::string& name, float fallback) const {
  const onnx::AttributeProto* a = attribute(name);
  return a ? a->f() : fallback;
}

std::vector<int64_t> Importer::ints_attribute(const std::string& name,
                                              std::vector<int64_t> fallback) const {
  const onnx::AttributeProto* a = attribute(name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
}

GraphModel::Value Importer::value(int i) const {
  LOWBIT_CHECK(has_input(i), where(), ": input ", i, " is missing; expected a tensor");
  LOWBIT_CHECK(pending_slices_.count(node_->input(i)) == 0, where(), ": input '", node_->input(i),
               "' is a subsampling Slice; expected it only before a Pad of zero channels");
  LOWBIT_CHECK(pending_quantize_.count(node_->input(i)) == 0, where(), ": input '", node_->input(i),
               "' is a QuantizeLinear's codes; expected them only in the "
               "DequantizeLinear that follows");
  LOWBIT_CHECK(pending_pads_.count(node_->input(i)) == 0, where(), ": input '", node_->input(i),
               "' is a Pad's output; expected a Pad only before a Conv, MaxPool or AveragePool "
               "without padding of its own");
  const auto it = values_.find(node_->input(i));
  LOWBIT_CHECK(it != values_.end(), where(), ": input '", node_->input(i),
               "' is not computed by any earlier node; expected the graph input, an earlier "
               "node's output, or (for weights) a constant");
  return it->second;
}

const Constant& Importer::constant(int i) const {
  LOWBIT_CHECK(is_constant(i), where(), ": input ", i, " ('", has_input(i) ? node_->input(i) : "",
               "') is computed at run time; expected a constant (an initializer)");
  return constants_.at(node_->input(i));
}

void Importer::copy_into(const Tensor& dst, const std::vector<float>& src, const char* what) const {
  LOWBIT_CHECK(static_cast<int64_t>(src.size()) == dst.numel(), where(), ": ", what, " has ",
               src.size(), " values; expected ", dst.numel(), " for shape ", dst.shape().str());
  std::memcpy(dst.data(), src.data(), src.size() * sizeof(float));
}

GraphModel::Value Importer::add_layer(std::shared_ptr<Module> module, GraphModel::Value x,
                                      const std::string& suffix) {
  // The node's name, made unique among the layers so far with _2, _3, ...
  const std::string base = layer_name(*node_, index_) + suffix;
  std::string name = base;
  for (int k = 2; layer_names_.count(name) > 0; ++k) name = base + "_" + std::to_string(k);
  layer_names_.insert(name);
  return values_[node_->output(0)] = g_->add_module(name, std::move(module), x);
}

Importer::Window Importer::window(int64_t kernel_from_weight) const {
  const std::vector<int64_t> kernel = ints_attribute("kernel_shape", {});
  const std::vector<int64_t> strides = ints_attribute("strides", {1, 1});
  const std::vector<int64_t> pads = ints_attribute("pads", {0, 0, 0, 0});
  const std::vector<int64_t> dilations = ints_attribute("dilations", {1, 1});
  const onnx::AttributeProto* auto_pad = attribute("auto_pad");
  LOWBIT_CHECK(!auto_pad || auto_pad->s() == "NOTSET" || auto_pad->s() == "VALID", where(),
               ": auto_pad ", auto_pad ? auto_pad->s() : "", "; expected explicit pads (NOTSET)");
  Window w;
  if (kernel.empty()) {
    LOWBIT_CHECK(kernel_from_weight > 0, where(), ": no kernel_shape; expected one");
    w.kernel = kernel_from_weight;
  } else {
    LOWBIT_CHECK(kernel.size() == 2 && kernel[0] == kernel[1], where(), ": kernel_shape of ",
                 kernel.size(), " sizes (", kernel[0], kernel.size() > 1 ? "x..." : "",
                 "); expected a square 2-D kernel");
    w.kernel = kernel[0];
  }
  LOWBIT_CHECK(strides.size() == 2 && strides[0] == strides[1], where(),
               ": strides differ between height and width; expected equal strides");
  LOWBIT_CHECK(pads.size() == 4 && pads[0] == pads[1] && pads[0] == pads[2] && pads[0] == pads[3],
               where(), ": pads differ between sides; expected the same padding on all four sides");
  LOWBIT_CHECK(dilations.size() == 2 && dilations[0] == 1 && dilations[1] == 1, where(),
               ": dilation ", dilations.empty() ? 0 : dilations[0], "; expected no dilation (1)");
  w.stride = strides[0];
  w.padding = pads[0];
  return w;
}

GraphModel::Value Importer::padded_input(int64_t& padding) const {
  const auto it = has_input(0) ? pending_pads_.find(node_->input(0)) : pending_pads_.end();
  if (it == pending_pads_.end()) return value(0);
  LOWBIT_CHECK(padding == 0, where(), ": padding ", padding, " of its own after a Pad of ",
               it->second.second, "; expected one of the two");
  padding = it->second.second;
  return it->second.first;
}

void Importer::import_slice() {
  // Only the option-A subsampling x[:, :, ::s, ::s]: axes 2 and 3 from 0 to the end, step s.
  const std::vector<int64_t> starts = constant(1).ints, ends = constant(2).ints;
  std::vector<int64_t> axes = has_input(3) ? constant(3).ints : std::vector<int64_t>{0, 1, 2, 3};
  const std::vector<int64_t> steps = has_input(4) ? constant(4).ints : std::vector<int64_t>{1, 1};
  for (int64_t& a : axes) a = a < 0 ? a + 4 : a;
  const bool subsample = axes == std::vector<int64_t>{2, 3} &&
                         starts == std::vector<int64_t>{0, 0} && steps.size() == 2 &&
                         steps[0] == steps[1] && steps[0] >= 1 && ends.size() == 2 &&
                         ends[0] >= (int64_t{1} << 31) - 1 && ends[1] == ends[0];
  LOWBIT_CHECK(subsample, where(),
               ": expected x[:, :, ::s, ::s] (axes 2, 3 from 0 to the end with "
               "one step), the subsampling of an option-A shortcut");
  LOWBIT_CHECK(consumers_[node_->output(0)] == 1, where(), ": feeds ", consumers_[node_->output(0)],
               " nodes; expected one Pad of zero channels");
  pending_slices_[node_->output(0)] = {value(0), steps[0]};
}

void Importer::import_pad_channels(int64_t added) {
  // Zero channels after the input's, on x or on a pending subsampling of x: lowbit's option-A
  // shortcut.
  GraphModel::Value x;
  int64_t stride = 1;
  const auto slice = pending_slices_.find(node_->input(0));
  if (slice != pending_slices_.end()) {
    x = slice->second.first;
    stride = slice->second.second;
    pending_slices_.erase(slice);
  } else {
    x = value(0);
  }
  const std::vector<int64_t> dims = probe_dims(x);
  LOWBIT_CHECK(dims.size() == 4, where(), ": pads channels of a value of rank ", dims.size(),
               "; expected (N, C, H, W)");
  add_layer(std::make_shared<PadChannelsShortcut>(dims[1] + added, stride), x);
}

void Importer::import_pad() {
  const std::string mode = attribute("mode") ? attribute("mode")->s() : "constant";
  LOWBIT_CHECK(mode == "constant", where(), ": mode '", mode, "'; expected constant");
  std::vector<int64_t> pads;
  float fill = 0.0f;
  if (opset_ >= 11) {
    const Constant& c = constant(1);
    LOWBIT_CHECK(!c.is_float, where(), ": float pads; expected int64");
    pads = c.ints;
    if (has_input(2)) fill = constant(2).floats.at(0);
  } else {
    pads = ints_attribute("pads", {});
    fill = float_attribute("value", 0.0f);
  }
  LOWBIT_CHECK(fill == 0.0f, where(), ": pads with ", fill, "; expected zeros");
  const std::vector<int64_t> channels_only{0, 0, 0, 0, 0, pads.size() == 8 ? pads[5] : 0, 0, 0};
  if (pads.size() == 8 && pads[5] > 0 && pads == channels_only) {
    import_pad_channels(pads[5]);
    return;
  }
  LOWBIT_CHECK(pads.size() == 8 && pads[0] == 0 && pads[1] == 0 && pads[4] == 0 && pads[5] == 0 &&
                   pads[2] == pads[3] && pads[2] == pads[6] && pads[2] == pads[7],
               where(), ": pads of ", pads.size(), " values that are not (0, 0, p, p, 0, 0, p, p)",
               "; expected the same padding on the four spatial sides of an (N, C, H, W) input");
  if (pads[2] == 0) {
    values_[node_->output(0)] = value(0);  // a no-op
    return;
  }
  LOWBIT_CHECK(consumers_[node_->output(0)] == 1, where(), ": feeds ", consumers_[node_->output(0)],
               " nodes; expected one Conv or pooling to pad");
  pending_pads_[node_->output(0)] = {value(0), pads[2]};
}

void Importer::import_conv() {
  const Constant& w = constant(1);
  LOWBIT_CHECK(w.dims.size() == 4, where(), ": weight of rank ", w.dims.size(),
               "; expected (C_out, C_in/groups, kh, kw)");
  LOWBIT_CHECK(w.dims[2] == w.dims[3], where(), ": a ", w.dims[2], "x", w.dims[3],
               " kernel; expected a square kernel");
  Window win = window(w.dims[2]);
  const GraphModel::Value x = padded_input(win.padding);
  LOWBIT_CHECK(win.kernel == w.dims[2], where(), ": kernel_shape ", win.kernel,
               " but the weight's kernel is ", w.dims[2], "; expected them equal");
  const int64_t groups = int_attribute("group", 1);
  LOWBIT_CHECK(groups >= 1 && w.dims[0] % groups == 0, where(), ": group ", groups,
               " does not divide ", w.dims[0], " output channels");
  const bool has_bias = has_input(2);
  auto conv = std::make_shared<Conv2d>(w.dims[1] * groups, w.dims[0], w.dims[2],
                                       Conv2dOptions{win.stride, win.padding, groups}, has_bias);
  copy_into(conv->weight(), w.floats, "the weight");
  if (has_bias) copy_into(conv->bias(), constant(2).floats, "the bias");
  add_layer(conv, x);
}

void Importer::import_batch_norm() {
  const Constant& scale = constant(1);
  const int64_t channels = scale.numel();
  auto bn = std::make_shared<BatchNorm>(channels, 0.1f, float_attribute("epsilon", 1e-5f));
  copy_into(bn->weight(), scale.floats, "the scale");
  copy_into(bn->bias(), constant(2).floats, "the bias B");
  copy_into(bn->running_mean(), constant(3).floats, "the mean");
  copy_into(bn->running_var(), constant(4).floats, "the variance");
  add_layer(bn, value(0));
}

void Importer::import_clip() {
  // Opset 11 and later give min and max as (optional) inputs, earlier ones as attributes.
  const float inf = std::numeric_limits<float>::infinity();
  float lo = -inf, hi = inf;
  if (opset_ >= 11) {
    auto bound = [&](int i, float fallback) {
      if (!has_input(i)) return fallback;
      const Constant& c = constant(i);
      LOWBIT_CHECK(c.is_float && c.numel() == 1, where(), ": bound ", i,
                   " is not one float; expected a scalar");
      return c.floats[0];
    };
    lo = bound(1, -inf);
    hi = bound(2, inf);
  } else {
    lo = float_attribute("min", -inf);
    hi = float_attribute("max", inf);
  }
  std::shared_ptr<Module> module;
  if (lo == 0.0f && hi == 6.0f) {
    module = std::make_shared<ReLU6>();
  } else if (lo == 0.0f && hi == inf) {
    module = std::make_shared<ReLU>();
  } else {
    LOWBIT_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, where(), ": clip to [", lo,
                 ", ", hi, "]; expected finite bounds min < max (or [0, 6], or [0, inf))");
    module = std::make_shared<Hardtanh>(lo, hi);
  }
  add_layer(module, value(0));
}

void Importer::import_pool(bool max) {
  Window win = window(0);
  const bool padded_before = has_input(0) && pending_pads_.count(node_->input(0)) > 0;
  const GraphModel::Value x = padded_input(win.padding);
  LOWBIT_CHECK(int_attribute("ceil_mode", 0) == 0, where(),
               ": ceil_mode 1; expected 0 (output sizes rounded down)");
  if (max) {
    LOWBIT_CHECK(node_->output_size() == 1 || node_->output(1).empty(), where(),
                 ": asks for the Indices output; expected only the pooled values");
    // Max pooling pads with -infinity, a Pad with zeros: the two differ on negative inputs.
    LOWBIT_CHECK(!padded_before, where(),
                 ": max pooling after a zero Pad; expected the padding "
                 "inside the MaxPool");
    add_layer(std::make_shared<MaxPool2d>(win.kernel, win.stride, win.padding), x);
  } else {
    LOWBIT_CHECK(win.padding == 0 || padded_before || int_attribute("count_include_pad", 0) == 1,
                 where(), ": count_include_pad 0 with padding ", win.padding,
                 "; expected count_include_pad 1 (lowbit averages over the padded window)");
    add_layer(std::make_shared<AvgPool2d>(win.kernel, win.stride, win.padding), x);
  }
}

void Importer::import_reshape() {
  const Constant& shape = constant(1);
  LOWBIT_CHECK(!shape.is_float, where(), ": the shape is float; expected int64");
  std::vector<int64_t> dims = shape.ints;
  const bool allowzero = int_attribute("allowzero", 0) == 1;
  for (int64_t d : dims)
    LOWBIT_CHECK(!(allowzero && d == 0), where(),
                 ": allowzero 1 with a 0 in the shape; expected allowzero 0");
  if (!dims.empty() && traced_batch_ > 0 && dims[0] == traced_batch_) dims[0] = 0;  // keep N
  if (!dims.empty() && dims[0] == kBatch) dims[0] = 0;
  for (int64_t d : dims)
    LOWBIT_CHECK(d != kBatch, where(),
                 ": the batch size as a dimension other than the first; "
                 "expected it first, or a constant shape");
  add_layer(std::make_shared<Reshape>(dims), value(0));
}

void Importer::import_gemm() {
  LOWBIT_CHECK(float_attribute("alpha", 1.0f) == 1.0f && float_attribute("beta", 1.0f) == 1.0f,
               where(), ": alpha or beta differs from 1; expected Y = A B' + C");
  LOWBIT_CHECK(int_attribute("transA", 0) == 0, where(), ": transA 1; expected transA 0");
  const Constant& b = constant(1);
  LOWBIT_CHECK(b.dims.size() == 2, where(), ": B of rank ", b.dims.size(), "; expected a matrix");
  const bool trans_b = int_attribute("transB", 0) == 1;
  const int64_t out = trans_b ? b.dims[0] : b.dims[1], in = trans_b ? b.dims[1] : b.dims[0];
  const bool has_bias = has_input(2);
  auto linear = std::make_shared<Linear>(in, out, has_bias);
  std::vector<float> weight = b.floats;  // Linear keeps (out, in)
  if (!trans_b)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) weight[o * in + i] = b.floats[i * out + o];
  copy_into(linear->weight(), weight, "B");
  if (has_bias) {
    const Constant& c = constant(2);
    LOWBIT_CHECK(c.numel() == out, where(), ": C has ", c.numel(), " values; expected ", out,
                 " (one per output, no other broadcast)");
    copy_into(linear->bias(), c.floats, "C");
  }
  add_layer(linear, value(0));
}

void Importer::import_matmul() {
  const Constant& b = constant(1);
  LOWBIT_CHECK(b.dims.size() == 2, where(), ": B of rank ", b.dims.size(), "; expected a matrix");
  const int64_t in = b.dims[0], out = b.dims[1];
  auto linear = std::make_shared<Linear>(in, out, false);
  std::vector<float> weight(b.floats.size());
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) weight[o * in + i] = b.floats[i * out + o];
  copy_into(linear->weight(), weight, "B");
  add_layer(linear, value(0));
  if (consumers_[node_->output(0)] == 1) bias_free_linears_[node_->output(0)] = linear;
}

// a + b with numpy broadcasting (ONNX's multidirectional broadcasting) of float constants.
Constant broadcast_sum(const Constant& a, const Constant& b, const std::string& where) {
  LOWBIT_CHECK(a.is_float && b.is_float, where, ": adds integer constants; expected float ones");
  const size_t rank = std::max(a.dims.size(), b.dims.size());
  // Each operand's dimensions right-aligned to `rank`, 1 where it has none.
  auto aligned = [rank](const std::vector<int64_t>& d) {
    std::vector<int64_t> out(rank - d.size(), 1);
    out.insert(out.end(), d.begin(), d.end());
    return out;
  };
  const std::vector<int64_t> da = aligned(a.dims), db = aligned(b.dims);
  Constant c;
  for (size_t k = 0; k < rank; ++k) {
    LOWBIT_CHECK(da[k] == db[k] || da[k] == 1 || db[k] == 1, where, ": shapes ",
                 Shape(a.dims).str(), " and ", Shape(b.dims).str(), " do not broadcast");
    c.dims.push_back(std::max(da[k], db[k]));
  }
  c.floats.resize(static_cast<size_t>(c.numel()));
  for (int64_t i = 0; i < c.numel(); ++i) {
    // The flat index of element i of the result in each operand (a dimension of 1 repeats).
    int64_t rest = i, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
    for (size_t k = rank; k-- > 0;) {
      const int64_t index = rest % c.dims[k];
      rest /= c.dims[k];
      if (da[k] > 1) ia += index * stride_a;
      if (db[k] > 1) ib += index * stride_b;
      stride_a *= da[k];
      stride_b *= db[k];
    }
    c.floats[static_cast<size_t>(i)] =
        a.floats[static_cast<size_t>(ia)] + b.floats[static_cast<size_t>(ib)];
  }
  return c;
}

void Importer::import_add() {
  const bool c0 = is_constant(0), c1 = is_constant(1);
  if (c0 && c1) {  // a constant computed from constants: an asymmetric weight's codes and minimum
    constants_[node_->output(0)] = broadcast_sum(constant(0), constant(1), where());
    return;
  }
  if (!c0 && !c1) {
    values_[node_->output(0)] = g_->add_sum(value(0), value(1));
    return;
  }
  // value + constant: the bias of the MatMul before it.
  const int v = c0 ? 1 : 0;
  const auto it =
      has_input(v) ? bias_free_linears_.find(node_->input(v)) : bias_free_linears_.end();
  LOWBIT_CHECK(it != bias_free_linears_.end(), where(),
               ": adds a constant to a value that is not a MatMul's sole output; expected a sum of "
               "two computed values or a MatMul's bias");
  const Constant& bias = constant(1 - v);
  LOWBIT_CHECK(bias.numel() == it->second->out_features(), where(), ": bias of ", bias.numel(),
               " values; expected ", it->second->out_features());
  copy_into(it->second->add_bias(), bias.floats, "the bias");
  values_[node_->output(0)] = values_.at(node_->input(v));
  bias_free_linears_.erase(it);
}

std::vector<int64_t> Importer::probe_dims(GraphModel::Value v) const {
  bool known = input_dims_.size() >= 2;
  for (size_t k = 1; k < input_dims_.size(); ++k) known = known && input_dims_[k] > 0;
  LOWBIT_CHECK(known, where(), ": the shape of a value, with graph input dimensions ",
               Shape(input_dims_).str(), "; expected fixed dimensions after the batch");
  std::vector<int64_t> image = input_dims_;
  image[0] = 1;
  // GraphModel runs its steps up to its output: make v the output for this one run.
  const GraphModel::Value last = g_->output();
  g_->set_output(v);
  Tensor y;
  try {
    NoGradGuard no_grad;
    ModeGuard mode(*g_, false);
    y = g_->forward(Tensor::zeros(Shape(image)));
  } catch (...) {
    g_->set_output(last);
    throw;
  }
  g_->set_output(last);
  std::vector<int64_t> dims = y.shape().dims();
  if (!dims.empty()) dims[0] = kBatch;
  return dims;
}

void Importer::import_shape() {
  std::vector<int64_t> dims = probe_dims(value(0));
  // Opset 15's start and end pick a range of the dimensions (negative: from the end).
  const int64_t rank = static_cast<int64_t>(dims.size());
  auto clamp = [rank](int64_t i) {
    return std::min(std::max(i < 0 ? i + rank : i, int64_t{0}), rank);
  };
  const int64_t start = clamp(int_attribute("start", 0)), end = clamp(int_attribute("end", rank));
  Constant c;
  c.is_float = false;
  if (start < end) c.ints.assign(dims.begin() + start, dims.begin() + end);
  c.dims = {static_cast<int64_t>(c.ints.size())};
  constants_[node_->output(0)] = c;
}

void Importer::import_gather() {
  const Constant& data = constant(0);
  const Constant& indices = constant(1);
  LOWBIT_CHECK(!data.is_float && data.dims.size() == 1 && !indices.is_float &&
                   indices.dims.size() <= 1 && int_attribute("axis", 0) == 0,
               where(), ": expected int64 indices into a 1-D int64 constant (a shape), axis 0");
  const int64_t n = data.dims[0];
  Constant c;
  c.is_float = false;
  c.dims = indices.dims;
  for (int64_t i : indices.ints) {
    LOWBIT_CHECK(i >= -n && i < n, where(), ": index ", i, " into ", n, " values; expected -", n,
                 "..", n - 1);
    c.ints.push_back(data.ints[static_cast<size_t>(i < 0 ? i + n : i)]);
  }
  constants_[node_->output(0)] = c;
}

void Importer::import_unsqueeze(bool squeeze) {
  Constant c = constant(0);
  LOWBIT_CHECK(!c.is_float && c.dims.size() <= 1, where(),
               ": expected an int64 scalar or 1-D constant (a shape)");
  // The axes: an attribute before opset 13, the second input from it on.
  std::vector<int64_t> axes = ints_attribute("axes", {});
  if (has_input(1)) axes = constant(1).ints;
  if (squeeze) {
    LOWBIT_CHECK(
        c.dims.size() == 1 && c.dims[0] == 1 && (axes.empty() || axes == std::vector<int64_t>{0}),
        where(), ": expected to squeeze a single value to a scalar");
    c.dims.clear();
  } else {
    LOWBIT_CHECK(c.dims.empty() && axes == std::vector<int64_t>{0}, where(),
                 ": expected to unsqueeze a scalar at axis 0");
    c.dims = {1};
  }
  constants_[node_->output(0)] = c;
}

void Importer::import_cast() {
  const Constant& c = constant(0);
  LOWBIT_CHECK(!c.is_float && int_attribute("to", 0) == onnx::TensorProto::INT64, where(),
               ": expected a cast of an int64 constant (a shape) to int64");
  constants_[node_->output(0)] = c;
}

bool Importer::import_constant_concat() {
  for (int i = 0; i < node_->input_size(); ++i)
    if (!is_constant(i) || constant(i).is_float) return false;
  Constant c;
  c.is_float = false;
  for (int i = 0; i < node_->input_size(); ++i) {
    const Constant& part = constant(i);
    LOWBIT_CHECK(part.dims.size() == 1, where(), ": input ", i,
                 " is not 1-D; expected 1-D int64 constants (parts of a shape)");
    c.ints.insert(c.ints.end(), part.ints.begin(), part.ints.end());
  }
  c.dims = {static_cast<int64_t>(c.ints.size())};
  constants_[node_->output(0)] = c;
  return true;
}

// The codes of a zero point's type: int8 -128..127, uint8 (also ONNX's default) 0..255.
std::pair<int64_t, int64_t> code_range(int32_t data_type) {
  if (data_type == onnx::TensorProto::INT8) return {-128, 127};
  return {0, 255};
}

void Importer::import_quantize() {
  const Constant& scale = constant(1);
  LOWBIT_CHECK(scale.is_float && scale.floats.size() == 1, where(),
               ": expected one float scale (per-tensor quantization of an activation)");
  int64_t zero_point = 0;
  int32_t type = onnx::TensorProto::UINT8;
  if (has_input(2)) {
    const Constant& z = constant(2);
    LOWBIT_CHECK(!z.is_float && z.ints.size() == 1, where(), ": expected one integer zero point");
    zero_point = z.ints[0];
    type = z.data_type;
  }
  const auto [low, high] = code_range(type);
  pending_quantize_[node_->output(0)] = {value(0), scale.floats[0], zero_point, low, high};
}

void Importer::import_dequantize() {
  const std::string& in = node_->input(0);
  const auto pending = pending_quantize_.find(in);
  if (pending != pending_quantize_.end()) {
    const PendingQuantize& q = pending->second;
    const Constant& scale = constant(1);
    const int64_t zero_point = has_input(2) ? constant(2).ints.at(0) : 0;
    LOWBIT_CHECK(
        scale.floats.size() == 1 && scale.floats[0] == q.scale && zero_point == q.zero_point,
        where(),
        ": a scale or zero point other than its QuantizeLinear's; expected the "
        "same pair");
    add_layer(std::make_shared<QuantizeDequantize>(q.scale, q.zero_point, q.low, q.high), q.x);
    return;
  }
  // Constant codes (a quantized weight): (q - zero point) * scale, per tensor or along `axis`.
  const Constant& codes = constant(0);
  const Constant& scale = constant(1);
  LOWBIT_CHECK(!codes.is_float && scale.is_float, where(),
               ": expected integer codes and float scales");
  const int64_t rank = static_cast<int64_t>(codes.dims.size());
  int64_t axis = int_attribute("axis", 1);
  if (axis < 0) axis += rank;
  const int64_t channels = static_cast<int64_t>(scale.floats.size());
  LOWBIT_CHECK(channels == 1 || (axis >= 0 && axis < rank && codes.dims[axis] == channels), where(),
               ": ", channels, " scales for codes of shape ", Shape(codes.dims).str(), " on axis ",
               axis, "; expected one scale, or one per index of the axis");
  std::vector<int64_t> zero(static_cast<size_t>(channels), 0);
  if (has_input(2)) zero = constant(2).ints;
  LOWBIT_CHECK(static_cast<int64_t>(zero.size()) == channels, where(), ": ", zero.size(),
               " zero points for ", channels, " scales; expected as many");
  int64_t inner = 1;
  for (int64_t k = axis + 1; k < rank; ++k) inner *= codes.dims[k];
  Constant c;
  c.dims = codes.dims;
  c.floats.resize(codes.ints.size());
  for (size_t i = 0; i < codes.ints.size(); ++i) {
    const size_t ch =
        channels == 1 ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels);
    c.floats[i] = static_cast<float>(codes.ints[i] - zero[ch]) * scale.floats[ch];
  }
  constants_[node_->output(0)] = c;
}

void Importer::import_node() {
  const std::string& op = node_->op_type();
  LOWBIT_CHECK(node_->domain().empty() || node_->domain() == "ai.onnx", where(), ": domain '",
               node_->domain(), "'; expected the default ONNX domain");
  LOWBIT_CHECK(node_->output_size() >= 1, where(), ": no output; expected one");
  if (op == "Constant") {
    const onnx::AttributeProto* a = attribute("value");
    LOWBIT_CHECK(a && a->has_t(), where(), ": no tensor 'value'; expected a tensor constant");
    constants_[node_->output(0)] = read_tensor(a->t(), where());
  } else if (op == "Conv") {
    import_conv();
  } else if (op == "BatchNormalization") {
    import_batch_norm();
  } else if (op == "Relu") {
    add_layer(std::make_shared<ReLU>(), value(0));
  } else if (op == "Clip") {
    import_clip();
  } else if (op == "MaxPool" || op == "AveragePool") {
    import_pool(op == "MaxPool");
  } else if (op == "GlobalAveragePool") {
    const GraphModel::Value pooled = add_layer(std::make_shared<GlobalAvgPool>(), value(0));
    add_layer(std::make_shared<Reshape>(std::vector<int64_t>{0, 0, 1, 1}), pooled, "_nchw");
  } else if (op == "Flatten") {
    LOWBIT_CHECK(int_attribute("axis", 1) == 1, where(), ": axis ", int_attribute("axis", 1),
                 "; expected 1 (keep the batch, flatten the rest)");
    add_layer(std::make_shared<Flatten>(), value(0));
  } else if (op == "Reshape") {
    import_reshape();
  } else if (op == "Gemm") {
    import_gemm();
  } else if (op == "MatMul") {
    import_matmul();
  } else if (op == "Add") {
    import_add();
  } else if (op == "Pad") {
    import_pad();
  } else if (op == "Slice") {
    import_slice();
  } else if (op == "QuantizeLinear") {
    import_quantize();
  } else if (op == "DequantizeLinear") {
    import_dequantize();
  } else if (op == "Shape") {
    import_shape();
  } else if (op == "Gather") {
    import_gather();
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    import_unsqueeze(op == "Squeeze");
  } else if (op == "Cast") {
    import_cast();
  } else if (op == "Concat" && import_constant_concat()) {
    // int64 constants joined while importing
  } else if (op == "Concat") {
    std::vector<GraphModel::Value> xs;
    for (int i = 0; i < node_->input_size(); ++i) xs.push_back(value(i));
    const onnx::AttributeProto* axis = attribute("axis");
    LOWBIT_CHECK(axis != nullptr, where(), ": no axis; expected one");
    values_[node_->output(0)] = g_->add_concat(xs, static_cast<int>(axis->i()));
  } else if (op == "Dropout") {
    float ratio = float_attribute("ratio", 0.5f);
    if (is_constant(1)) ratio = constant(1).floats.at(0);
    add_layer(std::make_shared<Dropout>(ratio), value(0));
  } else if (op == "Identity") {
    if (is_constant(0)) {
      constants_[node_->output(0)] = constant(0);
    } else {
      add_layer(std::make_shared<Identity>(), value(0));
    }
  } else {
    throw Error(concat(
        where(),
        " is not supported; expected one of Conv, BatchNormalization, Relu, Clip, "
        "MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, Add, "
        "Concat, Pad, Slice (option-A subsampling), Dropout, Identity, Constant, QuantizeLinear, "
        "DequantizeLinear, and Shape, Gather, Unsqueeze, Squeeze, Cast on shapes"));
  }
}

OnnxImport Importer::run() {
  OnnxImport result;
  for (const onnx::OperatorSetIdProto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  LOWBIT_CHECK(opset_ >= 7, source_, ": default-domain opset ", opset_,
               "; expected opset 7 or later");
  result.opset = opset_;
  result.producer = model_.producer_name() +
                    (model_.producer_version().empty() ? "" : " " + model_.producer_version());

  for (const onnx::TensorProto& t : graph_.initializer())
    constants_[t.name()] = read_tensor(t, source_ + ": initializer");
  for (const onnx::ValueInfoProto& input : graph_.input()) {
    if (constants_.count(input.name())) continue;  // older exporters list initializers as inputs
    LOWBIT_CHECK(result.input_name.empty(), source_, ": graph inputs '", result.input_name,
                 "' and '", input.name(), "'; expected one input image tensor");
    result.input_name = input.name();
    for (const onnx::TensorShapeProto::Dimension& d : input.type().tensor_type().shape().dim())
      result.input_dims.push_back(d.has_dim_value() ? d.dim_value() : 0);
  }
  LOWBIT_CHECK(!result.input_name.empty(), source_, ": no graph input; expected one image tensor");
  LOWBIT_CHECK(graph_.output_size() == 1, source_, ": ", graph_.output_size(),
               " graph outputs; expected one (the logits)");
  result.output_name = graph_.output(0).name();
  if (!result.input_dims.empty()) traced_batch_ = result.input_dims[0];
  input_dims_ = result.input_dims;
  values_[result.input_name] = GraphModel::kInput;

  for (const onnx::NodeProto& node : graph_.node())
    for (const std::string& in : node.input()) ++consumers_[in];
  for (index_ = 0; index_ < static_cast<size_t>(graph_.node_size()); ++index_) {
    node_ = &graph_.node(static_cast<int>(index_));
    import_node();
  }
  const auto out = values_.find(result.output_name);
  LOWBIT_CHECK(out != values_.end(), source_, ": the graph output '", result.output_name,
               "' is not computed by any node; expected a node's output");
  g_->set_output(out->second);
  result.model = g_;
  return result;
}

}  // namespace

OnnxImport import_onnx_bytes(const std::string& bytes, const std::string& source) {
  onnx::ModelProto model;
  LOWBIT_CHECK(model.ParseFromString(bytes), source,
               ": not an ONNX model (the protobuf does not "
               "parse); expected a .onnx file");
  LOWBIT_CHECK(model.has_graph(), source, ": no graph; expected an ONNX model with a graph");
  return Importer(model, source).run();
}

std::string read_onnx_file(const std::string& path) {
  InputFile file(path, "a .onnx file");  // a directory, a FIFO or a device is refused by name
  std::string bytes(static_cast<size_t>(file.size()), '\0');
  file.read(bytes.data(), bytes.size());
  return bytes;
}

OnnxImport import_onnx(const std::string& path) {
  return import_onnx_bytes(read_onnx_file(path), path);
}

}  // namespace lowbit
