// Post-training quantization of a whole trained model without data (section III.a of the
// bit-efficient quantization paper): "convolution kernels, batch norm layers, and dense
// layers" quantized in place, and a snapshot to put the float values back between sweeps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "layers/module.h"
#include "layers/quant/ptq_quantize.h"

namespace lowbit {

// Which batch-norm tensors are quantized: none; the trained scale and shift (gamma, beta);
// or also the running mean and variance (all four weights of a Keras BatchNormalization
// layer, which the paper's TensorFlow workflow sees as the layer's parameters).
enum class PtqBn { kNone, kAffine, kAll };
PtqBn parse_ptq_bn(const std::string& name);  // "none", "affine", "all"
const char* ptq_bn_name(PtqBn bn);

struct PtqTargets {
  bool biases = true;  // convolution and dense biases (a dense layer's parameters include its bias)
  PtqBn bn = PtqBn::kAffine;
};

// A tensor of a model's state: a parameter with its role, or a buffer (running statistics),
// which has none.
struct ModelTensor {
  std::string name;
  std::optional<ParamRole> role;  // empty for a buffer
  Tensor tensor;
};
// Every parameter, then every buffer, in registration order: the model's whole state.
std::vector<ModelTensor> model_tensors(const Module& model);
// A convolution or dense kernel: a weight of rank 4 (Conv2d) or 2 (Linear).
bool is_kernel(const ModelTensor& m);
// A batch norm's running mean or variance: a buffer named *running_mean or *running_var.
bool is_running_statistic(const ModelTensor& m);
// Kernels always; biases and BN tensors as `targets` says; nothing else (a quantizer's own
// trained scales are not model weights).
bool ptq_quantizes(const ModelTensor& m, const PtqTargets& targets);

// One quantized tensor: its grids (one per output channel of a kernel under per-channel
// granularity; one for the tensor otherwise, and always one for 1-D tensors such as biases
// and BN parameters, whose "channels" are single values) and every element's code.
struct PtqTensor {
  std::string name;
  std::optional<ParamRole> role;  // as ModelTensor's: empty for a running statistic
  Shape shape;
  int bits = 0;  // bits per code: spec.bits, or for pow2-free the most any of its grids needs
  std::vector<PtqGrid> grids;
  std::vector<uint16_t> codes;  // numel, channel-major like the tensor
  int64_t distinct_values = 0;  // distinct values after quantization
};

struct PtqModelResult {
  PtqSpec spec;
  PtqTargets targets;
  std::vector<PtqTensor> tensors;  // the quantized ones, in model_tensors order
};

// Quantizes the targeted tensors of `model` in place (their storage is overwritten; keep a
// ModelSnapshot to undo) and returns their grids and codes. Throws on an invalid spec.
PtqModelResult ptq_quantize_model(Module& model, const PtqSpec& spec, const PtqTargets& targets);

// The number of distinct values among x[0..n).
int64_t distinct_values(const float* x, int64_t n);

// A copy of every parameter and buffer value of a model, restored into the same model.
class ModelSnapshot {
 public:
  explicit ModelSnapshot(const Module& model);
  void restore() const;  // writes the saved values back into the model's tensors

 private:
  std::vector<Tensor> live_, saved_;
};

}  // namespace lowbit
