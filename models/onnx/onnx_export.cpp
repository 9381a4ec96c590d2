// ONNX export: one walk over the module tree, each module emitting the nodes of its evaluation-mode
// forward. Every value is named by the path of the module that computes it; parameters keep their
// lowbit names. Readings chosen:
// - BatchNorm is exported as BatchNormalization with its running statistics (evaluation form); it
//   is not folded here, so that the file holds the network as trained (FAT's checkpoints have their
//   BN already folded, and export as they are).
// - Dropout and Identity compute nothing in evaluation mode and emit no node.
// - lowbit's GlobalAvgPool gives (N, C): GlobalAveragePool, whose output is (N, C, 1, 1), then
//   Flatten.
// - AvgPool2d counts padded zeros (count_include_pad 1), as lowbit's average pooling does.
// - The option-A shortcut (PadChannelsShortcut) keeps every stride-th row and column and appends
//   zero channels: Slice with steps, then a constant Pad on the channel axis.
// - A uniform quantizer (FAT, layers/quant/uniform_quantizer.h) becomes the QDQ form. On a layer's
//   input: Clip to the grid's limits, QuantizeLinear, DequantizeLinear, so that the codes stay in
//   the n-bit range below 8 bits (QuantizeLinear alone saturates only at the 8-bit range). On a
//   weight: its n-bit codes as an int8 or uint8 initializer, DequantizeLinear (per output channel
//   on axis 0 in vector mode). lowbit's code k of value k * step maps to ONNX's q = k - z with zero
//   point -z: symmetric grids have z = 0 (int8 for signed values, uint8 for unsigned ones), an
//   asymmetric grid's codes z .. z + 2^n - 1 become uint8 0 .. 2^n - 1. Biases stay float.
// - A post-training quantization cell (lowbit-ptq's data-free grids, OnnxExportOptions::ptq)
//   quantizes weights only. A symmetric kernel of n <= 8 bits is its int8 codes q in
//   [-(2^(n-1) - 1), 2^(n-1) - 1] and DequantizeLinear(q, step); an asymmetric one is its uint8
//   codes k in [0, 2^n - 1], DequantizeLinear(k, step), then Add of the grid's minimum, because
//   min + k step has no integer zero point in general. One scale (and minimum) per output channel
//   under per-channel grids. Power-of-two grids, wider codes, biases and BN tensors are their
//   quantized values as float32 (powers of two are exact there).
// - The power-of-two activation (layers/quant/pow2_activation.h) becomes standard operators that
//   compute exactly its levels: Abs, then one Greater and Where per threshold, their Sum, Sign and
//   Mul, and Div/Mul by a trained level scale. Power-of-two weights need nothing: their grid values
//   k 2^p are exact float32 initializers.
#include "models/onnx/onnx_export.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "core/atomic_file.h"
#include "core/autograd.h"
#include "core/check.h"
#include "layers/activations.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/identity.h"
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
#include "models/transforms/ptq_model.h"

#ifndef LOWBIT_VERSION
#define LOWBIT_VERSION "unknown"
#endif

namespace lowbit {
namespace {

constexpr int64_t kOpset = 13;

class Exporter {
 public:
  Exporter(Module& model, const OnnxExportOptions& options) : model_(model), options_(options) {}
  std::string run();

 private:
  // Emits the nodes of module m (at `path`) on the value x; returns the value it computes.
  std::string emit(Module& m, const std::string& path, const std::string& x);
  std::string emit_children(Module& m, const std::string& path, const std::string& x);
  std::string emit_graph(GraphModel& g, const std::string& path, const std::string& x);
  std::string emit_residual(ResidualBlock& b, const std::string& path, const std::string& x);
  std::string emit_conv(Conv2d& c, const std::string& path, const std::string& x);
  std::string emit_linear(Linear& l, const std::string& path, const std::string& x);
  std::string emit_pow2(const Pow2Activation& p, const std::string& path, const std::string& x);
  std::string emit_pad_channels(const PadChannelsShortcut& s, const std::string& path,
                                const std::string& x);

  // A node of type `op` named `name`, with one output of the same name.
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& name);
  static void attribute(onnx::NodeProto* n, const std::string& name,
                        const std::vector<int64_t>& values);
  static void attribute(onnx::NodeProto* n, const std::string& name, int64_t value);
  static void attribute(onnx::NodeProto* n, const std::string& name, float value);
  // A float initializer holding `t`, named `name`; returns the name.
  std::string initializer(const std::string& name, const Tensor& t);
  std::string ints(const std::string& name, const std::vector<int64_t>& values);
  std::string scalar(const std::string& name, float value);
  // Refuses a module with children it does not export (quantizers other than a layer's own).
  static void check_no_children(const Module& m, const std::string& path);
  // The QDQ form of a layer's input quantizer on x, and of its weight quantizer on `weight`.
  std::string qdq_input(const Quantizer& q, const std::string& path, const std::string& x);
  std::string qdq_weight(const Quantizer& q, const Tensor& weight, const std::string& path);
  // A scale (float) and zero-point (int8 or uint8) initializer pair, scalar or one per channel.
  void scale_and_zero_point(const std::string& path, const std::vector<float>& scales,
                            const std::vector<int64_t>& zero_points, bool is_int8);
  // A layer's input and weight, through their quantizers when it has them.
  std::string layer_input(const std::shared_ptr<Quantizer>& q, const std::string& path,
                          const std::string& x);
  std::string layer_weight(const std::shared_ptr<Quantizer>& q, const Tensor& weight,
                           const std::string& path);
  // The PTQ cell's codes of the kernel `name`, when they take the DequantizeLinear form.
  const PtqTensor* ptq_codes(const std::string& name) const;
  std::string ptq_weight(const PtqTensor& p, const std::string& name);
  const Shape& input_shape(const Module& m, const std::string& path) const;

  Module& model_;
  const OnnxExportOptions& options_;
  onnx::ModelProto proto_;
  onnx::GraphProto* graph_ = proto_.mutable_graph();
  std::map<const Module*, Shape> input_shapes_;  // from one traced forward
};

onnx::NodeProto* Exporter::node(const std::string& op, const std::vector<std::string>& inputs,
                                const std::string& name) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(name);
  return n;
}

void Exporter::attribute(onnx::NodeProto* n, const std::string& name,
                         const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void Exporter::attribute(onnx::NodeProto* n, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void Exporter::attribute(onnx::NodeProto* n, const std::string& name, float value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

std::string Exporter::initializer(const std::string& name, const Tensor& t) {
  onnx::TensorProto* p = graph_->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape().dims()) p->add_dims(d);
  // raw_data: little-endian float32, as ONNX stores it (and this machine holds it).
  p->set_raw_data(std::string(reinterpret_cast<const char*>(t.data()),
                              static_cast<size_t>(t.numel()) * sizeof(float)));
  return name;
}

std::string Exporter::ints(const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto* p = graph_->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::INT64);
  p->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) p->add_int64_data(v);
  return name;
}

std::string Exporter::scalar(const std::string& name, float value) {
  onnx::TensorProto* p = graph_->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  p->add_float_data(value);
  return name;
}

void Exporter::check_no_children(const Module& m, const std::string& path) {
  for (const auto& [name, child] : m.children())
    LOWBIT_CHECK(false, "ONNX export: ", path, " (", m.type_name(), ") has a ", child->type_name(),
                 " '", name, "', which has no ONNX form here");
}

// The uniform grid behind a weight quantizer: itself, or the one inside point-wise scales.
const UniformQuantizer* uniform_grid(const Quantizer& q) {
  if (const auto* u = dynamic_cast<const UniformQuantizer*>(&q)) return u;
  if (const auto* s = dynamic_cast<const PointwiseScaledQuantizer*>(&q))
    return dynamic_cast<const UniformQuantizer*>(s->inner().get());
  return nullptr;
}

// int8 codes for a symmetric signed grid, uint8 for every other (see the top of this file).
bool int8_codes(const UniformQuantizerSpec& spec) {
  return spec.thresholds == Thresholds::kSymmetric && spec.is_signed;
}

void Exporter::scale_and_zero_point(const std::string& path, const std::vector<float>& scales,
                                    const std::vector<int64_t>& zero_points, bool is_int8) {
  const bool scalar = scales.size() == 1;
  onnx::TensorProto* s = graph_->add_initializer();
  s->set_name(path + ".scale");
  s->set_data_type(onnx::TensorProto::FLOAT);
  if (!scalar) s->add_dims(static_cast<int64_t>(scales.size()));
  for (float v : scales) s->add_float_data(v);
  onnx::TensorProto* z = graph_->add_initializer();
  z->set_name(path + ".zero_point");
  z->set_data_type(is_int8 ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8);
  if (!scalar) z->add_dims(static_cast<int64_t>(zero_points.size()));
  for (int64_t v : zero_points) z->add_int32_data(static_cast<int32_t>(v));  // ONNX: int32_data
}

std::string Exporter::qdq_input(const Quantizer& q, const std::string& path, const std::string& x) {
  const auto* u = dynamic_cast<const UniformQuantizer*>(&q);
  LOWBIT_CHECK(u != nullptr && u->channels() == 1, "ONNX export: ", path, " is a ", q.describe(),
               "; expected a uniform quantizer with one threshold per tensor on a layer's input");
  const float step = u->steps()[0];
  const UniformQuantizer::CodeLimits codes = u->codes(0);
  const int64_t z = static_cast<int64_t>(std::lround(u->zero_points()[0]));
  node("Clip",
       {x, scalar(path + ".low", static_cast<float>(codes.low) * step),
        scalar(path + ".high", static_cast<float>(codes.high) * step)},
       path + ".clip");
  scale_and_zero_point(path, {step}, {-z}, int8_codes(u->spec()));
  node("QuantizeLinear", {path + ".clip", path + ".scale", path + ".zero_point"}, path + ".codes");
  node("DequantizeLinear", {path + ".codes", path + ".scale", path + ".zero_point"}, path);
  return path;
}

std::string Exporter::qdq_weight(const Quantizer& q, const Tensor& weight,
                                 const std::string& path) {
  const UniformQuantizer* u = uniform_grid(q);
  LOWBIT_CHECK(u != nullptr, "ONNX export: ", path, " is a ", q.describe(),
               "; expected a uniform weight quantizer (possibly with point-wise scales)");
  Tensor quantized;
  {
    NoGradGuard no_grad;
    quantized = const_cast<Quantizer&>(q).forward(weight);
  }
  const std::vector<float> steps = u->steps();
  const int64_t channels = u->channels(), outs = weight.size(0), depth = weight.numel() / outs;
  LOWBIT_CHECK(channels == 1 || channels == outs, "ONNX export: ", path, " has ", channels,
               " thresholds for ", outs, " output channels");
  std::vector<int64_t> zero_points(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    zero_points[static_cast<size_t>(c)] = -std::lround(u->zero_points()[static_cast<size_t>(c)]);
  const bool is_int8 = int8_codes(u->spec());
  std::string codes(static_cast<size_t>(weight.numel()), '\0');
  for (int64_t o = 0; o < outs; ++o) {
    const size_t c = static_cast<size_t>(channels == 1 ? 0 : o);
    for (int64_t j = 0; j < depth; ++j) {
      const float value = quantized.data()[o * depth + j];
      // q = k - z = k + zero point, k the code of value k * step.
      const int64_t k = steps[c] > 0 ? std::lround(value / steps[c]) : 0;
      const int64_t code = k + zero_points[c];
      LOWBIT_CHECK(is_int8 ? code >= -128 && code <= 127 : code >= 0 && code <= 255,
                   "ONNX export: ", path, " weight ", o * depth + j, " has code ", code,
                   ", outside 8 bits");
      codes[static_cast<size_t>(o * depth + j)] = static_cast<char>(static_cast<int8_t>(code));
    }
  }
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(path + ".codes");
  t->set_data_type(is_int8 ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8);
  for (int64_t d : weight.shape().dims()) t->add_dims(d);
  t->set_raw_data(codes);
  scale_and_zero_point(path, steps, zero_points, is_int8);
  onnx::NodeProto* n =
      node("DequantizeLinear", {path + ".codes", path + ".scale", path + ".zero_point"}, path);
  if (channels > 1) attribute(n, "axis", int64_t{0});
  return path;
}

std::string Exporter::layer_input(const std::shared_ptr<Quantizer>& q, const std::string& path,
                                  const std::string& x) {
  return q ? qdq_input(*q, child_path(path, "input_quantizer"), x) : x;
}

std::string Exporter::layer_weight(const std::shared_ptr<Quantizer>& q, const Tensor& weight,
                                   const std::string& path) {
  if (q) return qdq_weight(*q, weight, child_path(path, "weight_quantizer"));
  const std::string name = child_path(path, "weight");
  if (const PtqTensor* p = ptq_codes(name)) return ptq_weight(*p, name);
  return initializer(name, weight);
}

const PtqTensor* Exporter::ptq_codes(const std::string& name) const {
  if (options_.ptq == nullptr) return nullptr;
  const PtqScheme scheme = options_.ptq->spec.scheme;
  if (scheme != PtqScheme::kSymmetric && scheme != PtqScheme::kAsymmetric) return nullptr;
  for (const PtqTensor& p : options_.ptq->tensors)
    if (p.name == name && p.bits <= 8) return &p;
  return nullptr;
}

std::string Exporter::ptq_weight(const PtqTensor& p, const std::string& name) {
  const bool symmetric = p.grids.at(0).scheme == PtqScheme::kSymmetric;
  const int64_t outs = p.shape.dims().at(0), numel = p.shape.numel();
  const int64_t channels = static_cast<int64_t>(p.grids.size());
  LOWBIT_CHECK(channels == 1 || channels == outs, "ONNX export: ", name, " has ", channels,
               " PTQ grids for ", outs, " output channels");
  // lowbit's symmetric code c stands for (c - half) step; ONNX's int8 code is c - half.
  const int64_t half = symmetric ? (int64_t{1} << (p.bits - 1)) - 1 : 0;
  std::string codes(static_cast<size_t>(numel), '\0');
  for (int64_t i = 0; i < numel; ++i)
    codes[static_cast<size_t>(i)] =
        static_cast<char>(static_cast<int8_t>(p.codes[static_cast<size_t>(i)] - half));
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name + ".codes");
  t->set_data_type(symmetric ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8);
  for (int64_t d : p.shape.dims()) t->add_dims(d);
  t->set_raw_data(codes);
  // A constant channel has step 0 and only the code of 0 (symmetric) or of its minimum
  // (asymmetric, code 0): scale 1 gives the same values without a zero scale in the file.
  std::vector<float> scales, minimums;
  for (const PtqGrid& g : p.grids) {
    scales.push_back(g.step > 0 ? static_cast<float>(g.step) : 1.0f);
    minimums.push_back(static_cast<float>(g.offset));
  }
  scale_and_zero_point(name, scales, std::vector<int64_t>(scales.size(), 0), symmetric);
  const std::string scaled = symmetric ? name : name + ".scaled";
  onnx::NodeProto* n =
      node("DequantizeLinear", {name + ".codes", name + ".scale", name + ".zero_point"}, scaled);
  if (channels > 1) attribute(n, "axis", int64_t{0});
  if (symmetric) return name;
  // The minimum, shaped (C, 1, ...) to broadcast over each output channel's slice (C = 1: one
  // minimum for the tensor).
  std::vector<int64_t> dims(p.shape.dims().size(), 1);
  dims[0] = channels;
  node("Add", {scaled, initializer(name + ".minimum", Tensor::from_vector(Shape(dims), minimums))},
       name);
  return name;
}

const Shape& Exporter::input_shape(const Module& m, const std::string& path) const {
  const auto it = input_shapes_.find(&m);
  LOWBIT_CHECK(it != input_shapes_.end(), "ONNX export: ", path,
               " is not called by the model's forward; expected every layer to be used");
  return it->second;
}

std::string Exporter::emit_conv(Conv2d& c, const std::string& path, const std::string& x) {
  std::vector<std::string> inputs{layer_input(c.input_quantizer(), path, x),
                                  layer_weight(c.weight_quantizer(), c.weight(), path)};
  if (c.bias().defined()) inputs.push_back(initializer(child_path(path, "bias"), c.bias()));
  onnx::NodeProto* n = node("Conv", inputs, path);
  const Conv2dOptions& o = c.options();
  attribute(n, "kernel_shape", {c.kernel_size(), c.kernel_size()});
  attribute(n, "strides", {o.stride, o.stride});
  attribute(n, "pads", {o.padding, o.padding, o.padding, o.padding});
  attribute(n, "group", o.groups);
  return path;
}

std::string Exporter::emit_linear(Linear& l, const std::string& path, const std::string& x) {
  std::vector<std::string> inputs{layer_input(l.input_quantizer(), path, x),
                                  layer_weight(l.weight_quantizer(), l.weight(), path)};
  if (l.bias().defined()) inputs.push_back(initializer(child_path(path, "bias"), l.bias()));
  attribute(node("Gemm", inputs, path), "transB", int64_t{1});  // y = x W' + b
  return path;
}

std::string Exporter::emit_pad_channels(const PadChannelsShortcut& s, const std::string& path,
                                        const std::string& x) {
  const Shape& in = input_shape(s, path);
  const int64_t channels = in[1], added = s.out_channels() - channels;
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  const std::string sliced = path + ".subsample";
  node("Slice",
       {x, ints(path + ".starts", {0, 0}), ints(path + ".ends", {kEnd, kEnd}),
        ints(path + ".axes", {2, 3}), ints(path + ".steps", {s.stride(), s.stride()})},
       sliced);
  // pads: the begins of (N, C, H, W), then their ends: zero channels after the input's.
  node("Pad", {sliced, ints(path + ".pads", {0, 0, 0, 0, 0, added, 0, 0})}, path);
  return path;
}

std::string Exporter::emit_pow2(const Pow2Activation& p, const std::string& path,
                                const std::string& x) {
  const Pow2ActivationSpec& spec = p.spec();
  const float a = p.level_scale();
  const std::vector<float> levels = pow2_activation_levels(spec);
  const std::vector<float> thresholds = pow2_activation_thresholds(spec);
  // u = x / a; the magnitude of u on the levels: sum over the thresholds t_i of
  // (|u| > t_i) (L_{i+1} - L_i), each interval (t_{i-1}, t_i] closed above as lowbit's; the sign
  // back on (the unsigned variant: u itself, every threshold positive, so u < 0 gives 0); times a.
  const std::string u = a != 1.0f ? path + ".unscaled" : x;
  if (a != 1.0f) node("Div", {x, scalar(path + ".level_scale", a)}, u);
  const std::string magnitude_input = spec.is_signed ? path + ".abs" : u;
  if (spec.is_signed) node("Abs", {u}, magnitude_input);
  const std::string zero = scalar(path + ".zero", 0.0f);
  std::vector<std::string> steps;
  for (size_t i = 0; i < thresholds.size(); ++i) {
    const std::string k = concat(i);
    node("Greater", {magnitude_input, scalar(path + ".threshold" + k, thresholds[i])},
         path + ".above" + k);
    steps.push_back(
        node("Where",
             {path + ".above" + k, scalar(path + ".step" + k, levels[i + 1] - levels[i]), zero},
             path + ".level" + k)
            ->output(0));
  }
  // The last node is named `path`: the sum, the signed value or the scaled one.
  const bool sign = spec.is_signed, scaled = a != 1.0f;
  const std::string magnitude = sign || scaled ? path + ".magnitude" : path;
  node("Sum", steps, magnitude);
  std::string y = magnitude;
  if (sign) {
    node("Sign", {u}, path + ".sign");
    y = node("Mul", {path + ".sign", magnitude}, scaled ? path + ".signed" : path)->output(0);
  }
  if (scaled) y = node("Mul", {y, path + ".level_scale"}, path)->output(0);
  return y;
}

std::string Exporter::emit_residual(ResidualBlock& b, const std::string& path,
                                    const std::string& x) {
  // As ResidualBlock::forward: the activation at the input (when the block has it there) feeds
  // the branch and a projection shortcut, and option A's shortcut reads the block's input.
  const std::string& in = b.input_activation();
  const std::string levels = in.empty() ? x : emit(b.child(in), child_path(path, in), x);
  std::string h = levels;
  for (const std::string& name : b.branch()) h = emit(b.child(name), child_path(path, name), h);
  const std::string& s = b.shortcut();
  const std::string shortcut =
      s.empty() ? x : emit(b.child(s), child_path(path, s), b.shortcut_reads_levels() ? levels : x);
  node("Add", {h, shortcut}, path + ".add");
  if (b.activation().empty()) return path + ".add";
  return emit(b.child(b.activation()), child_path(path, b.activation()), path + ".add");
}

std::string Exporter::emit_graph(GraphModel& g, const std::string& path, const std::string& x) {
  std::vector<std::string> values{x};  // by GraphModel value
  for (const GraphModel::Step& s : g.steps()) {
    const std::string name = child_path(path, concat("step", s.output));
    if (s.kind == GraphModel::Step::Kind::kModule) {
      values.push_back(emit(g.child(s.module), child_path(path, s.module), values[s.inputs[0]]));
    } else if (s.kind == GraphModel::Step::Kind::kSum) {
      node("Add", {values[s.inputs[0]], values[s.inputs[1]]}, name);
      values.push_back(name);
    } else {
      std::vector<std::string> parts;
      for (GraphModel::Value v : s.inputs) parts.push_back(values[v]);
      attribute(node("Concat", parts, name), "axis", static_cast<int64_t>(s.axis));
      values.push_back(name);
    }
  }
  return values[g.output()];
}

std::string Exporter::emit_children(Module& m, const std::string& path, const std::string& x) {
  std::string y = x;
  for (const auto& [name, child] : m.children()) y = emit(*child, child_path(path, name), y);
  return y;
}

std::string Exporter::emit(Module& m, const std::string& path, const std::string& x) {
  if (dynamic_cast<Sequential*>(&m)) return emit_children(m, path, x);  // also a ResNet
  if (auto* g = dynamic_cast<GraphModel*>(&m)) return emit_graph(*g, path, x);
  if (auto* b = dynamic_cast<ResidualBlock*>(&m)) return emit_residual(*b, path, x);
  if (auto* r = dynamic_cast<InvertedResidual*>(&m)) {
    const std::string y = emit(m.child("conv"), child_path(path, "conv"), x);
    if (!r->residual()) return y;
    node("Add", {x, y}, path + ".add");
    return path + ".add";
  }
  if (auto* c = dynamic_cast<Conv2d*>(&m)) return emit_conv(*c, path, x);
  if (auto* l = dynamic_cast<Linear*>(&m)) return emit_linear(*l, path, x);
  if (auto* bn = dynamic_cast<BatchNorm*>(&m)) {
    check_no_children(m, path);
    onnx::NodeProto* n = node("BatchNormalization",
                              {x, initializer(child_path(path, "weight"), bn->weight()),
                               initializer(child_path(path, "bias"), bn->bias()),
                               initializer(child_path(path, "running_mean"), bn->running_mean()),
                               initializer(child_path(path, "running_var"), bn->running_var())},
                              path);
    attribute(n, "epsilon", bn->eps());
    return path;
  }
  if (dynamic_cast<ReLU*>(&m)) return node("Relu", {x}, path)->output(0);
  if (dynamic_cast<ReLU6*>(&m))
    return node("Clip", {x, scalar(path + ".min", 0.0f), scalar(path + ".max", 6.0f)}, path)
        ->output(0);
  if (auto* h = dynamic_cast<Hardtanh*>(&m))
    return node("Clip",
                {x, scalar(path + ".min", h->min_value()), scalar(path + ".max", h->max_value())},
                path)
        ->output(0);
  if (auto* p = dynamic_cast<Pool2d*>(&m)) {
    const bool max = dynamic_cast<MaxPool2d*>(&m) != nullptr;
    onnx::NodeProto* n = node(max ? "MaxPool" : "AveragePool", {x}, path);
    attribute(n, "kernel_shape", {p->kernel(), p->kernel()});
    attribute(n, "strides", {p->stride(), p->stride()});
    attribute(n, "pads", {p->padding(), p->padding(), p->padding(), p->padding()});
    if (!max) attribute(n, "count_include_pad", int64_t{1});
    return path;
  }
  if (dynamic_cast<GlobalAvgPool*>(&m)) {
    node("GlobalAveragePool", {x}, path + ".nchw");
    attribute(node("Flatten", {path + ".nchw"}, path), "axis", int64_t{1});
    return path;
  }
  if (dynamic_cast<Flatten*>(&m)) {
    attribute(node("Flatten", {x}, path), "axis", int64_t{1});
    return path;
  }
  if (auto* r = dynamic_cast<Reshape*>(&m))
    return node("Reshape", {x, ints(path + ".shape", r->dims())}, path)->output(0);
  if (auto* s = dynamic_cast<PadChannelsShortcut*>(&m)) return emit_pad_channels(*s, path, x);
  if (auto* p = dynamic_cast<Pow2Activation*>(&m)) return emit_pow2(*p, path, x);
  if (dynamic_cast<Dropout*>(&m) || dynamic_cast<Identity*>(&m)) return x;
  throw Error(concat("ONNX export: ", path.empty() ? std::string("the model") : path, " is a ",
                     m.type_name(), ", which has no ONNX form here"));
}

std::string Exporter::run() {
  const Shape image{1, options_.channels, options_.side, options_.side};
  Tensor logits;
  {
    // One traced forward: each module's input shape (the option-A shortcut needs its channels)
    // and the number of classes.
    NoGradGuard no_grad;
    ModeGuard mode(model_, false);
    ObserveForward observe([this](const Module& m, const Tensor& in, const Tensor&) {
      input_shapes_[&m] = in.shape();
    });
    logits = model_(Tensor::zeros(image));
  }
  LOWBIT_CHECK(logits.rank() == 2, "ONNX export: the model gives ", logits.shape().str(),
               " for one image; expected (1, classes)");

  proto_.set_ir_version(7);  // the IR of opset 13
  proto_.set_producer_name("lowbit");
  proto_.set_producer_version(LOWBIT_VERSION);
  proto_.add_opset_import()->set_version(kOpset);
  graph_->set_name(options_.graph_name);
  for (const auto& [key, value] : options_.metadata) {
    onnx::StringStringEntryProto* p = proto_.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  auto declare = [](onnx::ValueInfoProto* v, const std::string& name,
                    const std::vector<int64_t>& dims) {
    v->set_name(name);
    onnx::TypeProto::Tensor* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("N");
    for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  declare(graph_->add_input(), "image", {options_.channels, options_.side, options_.side});
  const std::string out = emit(model_, "", "image");
  declare(graph_->add_output(), "logits", {logits.size(1)});
  // The last value is named "logits": the last node's output is renamed, or (a model that ends in
  // a no-op) an Identity gives it that name.
  onnx::NodeProto* last =
      graph_->node_size() > 0 ? graph_->mutable_node(graph_->node_size() - 1) : nullptr;
  if (last != nullptr && last->output(0) == out) {
    last->set_output(0, "logits");
  } else {
    node("Identity", {out}, "logits");
  }
  std::string bytes;
  LOWBIT_CHECK(proto_.SerializeToString(&bytes), "ONNX export: the model does not serialize");
  return bytes;
}

}  // namespace

std::string export_onnx_bytes(Module& model, const OnnxExportOptions& options) {
  return Exporter(model, options).run();
}

void export_onnx(Module& model, const OnnxExportOptions& options, const std::string& path) {
  write_file_atomic(path, export_onnx_bytes(model, options));
}

}  // namespace lowbit
