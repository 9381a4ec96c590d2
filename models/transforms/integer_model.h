// Integer-only inference of a model quantized with uniform quantizers (FAT:
// models/transforms/bn_folding.h, models/transforms/calibration.h, fine-tuned by lowbit-quantize):
// the check that the fake-quantized (simulated) model is what an integer accelerator would compute.
//
// Every value between layers is an int32 in fixed point with F = 22 fraction bits (v = k 2^-F).
// Each Conv2d and Linear runs as integer hardware would:
//   codes   k_x = clip(round(v 2^-F / step_x), low, high)             fixed-point multiplier
//   (requantize) acc[o]  = sum k_x k_w[o]                                          int16 x int16 ->
//   int32 out[o]  = round(acc[o] step_x step_w[o] 2^F) + round(b[o] 2^F)    fixed-point multiplier
//   per channel
// where k_w are the weight quantizer's codes (its output divided by its step: exact integers, also
// for point-wise scaled weights) and the asymmetric zero point is folded into the codes (k ranges
// over z .. z + 2^n - 1, so sum k_x k_w is the usual zero-point expansion done at once). ReLU,
// ReLU6, max and average pooling, the residual adds, option-A shortcuts and flattening work on the
// fixed-point integers directly. The only float arithmetic is at the two ends: the input image to
// fixed point, and the logits back to float for the caller. (Why the bias is added in fixed point
// rather than in eq. 20's accumulator units: see compile_product in the .cpp.)
//
// A power-of-two network (lowbit-train --weights pow2 --act pow2, Long et al. 2020) compiles with
// its Pow2Weights (models/transforms/pow2_integer.h): its layers have no quantizers; a layer reads
// the codes of the power-of-two activation before it (exact integers at its step q2 a) or, the
// first, int16 codes of the image; grid weights are codes w 2^-min_exp, the float layers get
// per-channel codes of as many bits as the accumulator allows; the BN after a layer becomes its
// per-channel requantization and bias; the activation becomes a level operation
// (core/runtime/levels.h) that compares the fixed-point value with the quantizer's own thresholds.
//
// Supported: Sequential, ResNet, BasicBlock, Bottleneck, InvertedResidual, GraphModel (an imported
// ONNX network: its sums and concatenations), Conv2d (any groups, stride, padding), Linear, ReLU,
// ReLU6, MaxPool2d, AvgPool2d, GlobalAvgPool, PadChannelsShortcut, Flatten, Reshape, Dropout
// (eval: identity), Identity (a folded BN). Every Conv2d and Linear needs a
// per-tensor UniformQuantizer on its input and a UniformQuantizer (per tensor or per output
// channel, possibly inside a PointwiseScaledQuantizer) on its weight. Anything else is refused with
// the path and type of the module: per-channel input thresholds, for instance, would need one scale
// per input channel inside the accumulator, which no integer product has.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/runtime/program.h"
#include "layers/module.h"
#include "models/transforms/pow2_integer.h"

namespace lowbit {

// F: values up to +-2^(31 - F) = +-512 (far beyond what BN-folded networks produce; clamps are
// counted, saturated_values()) at a resolution of 2.4e-7. A value within that resolution of a
// rounding boundary of the next quantizer may take the neighbouring code; with F = 16 that happened
// often enough to matter (8-bit ResNet-20 on CIFAR-10: 99.59% of the test predictions agreeing with
// the simulated model), with F = 22 the rest is at the level of the simulation's own float32
// rounding (99.83%).
constexpr int kIntegerFractionBits = 22;

class IntegerOp;

// A compiled integer program. It is a Module so that evaluate() and the reports run it like any
// model; it has no parameters and never records a graph. Its forward takes float images (N, ...)
// and returns the logits (N, classes) converted from fixed point.
class IntegerModel : public Module {
 public:
  // Compiles `model` as it is now (its quantizers, alphas and weights are read once; later changes
  // to `model` are not seen). Throws lowbit::Error naming the first module that has no integer
  // form. With `pow2`, a power-of-two network (above); without, a lowbit-quantize one.
  explicit IntegerModel(Module& model, std::optional<Pow2Weights> pow2 = std::nullopt);
  ~IntegerModel() override;

  Tensor forward(const Tensor& images) override;
  std::string type_name() const override { return "IntegerModel"; }

  // Values that fell outside the fixed-point range (|v| >= 2^(31 - F)) and were clamped, over every
  // forward so far: 0 unless the model's activations are far larger than trained networks' are.
  int64_t saturated_values() const { return saturated_.load(); }

  // The same computation as a runtime program (core/runtime/program.h), for a packed model file:
  // its operations only (the caller fills program.info: input shape, classes, normalization).
  runtime::Program program() const;

  // The Conv2d and Linear layers compiled, by path.
  const std::vector<std::string>& quantized_layers() const { return layers_; }
  // A power-of-two network's float layers and the bits of their weight codes ("conv1: 12-bit
  // weights").
  const std::vector<std::string>& float_layers() const { return float_layers_; }

 private:
  std::unique_ptr<IntegerOp> program_;
  std::vector<std::string> layers_, float_layers_;
  std::atomic<int64_t> saturated_{0};
};

}  // namespace lowbit
