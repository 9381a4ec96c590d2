// The quantizers of a layer with a weight: attaching them once, applying them when present.
#include "layers/quant/quantizable_layer.h"

#include "core/check.h"

namespace lowbit {

void QuantizableLayer::set_weight_quantizer(std::shared_ptr<Quantizer> quantizer) {
  LOWBIT_CHECK(quantizer != nullptr, type_name(),
               "::set_weight_quantizer: the quantizer is null; expected a Quantizer");
  LOWBIT_CHECK(weight_quantizer_ == nullptr, type_name(), ": a weight quantizer (",
               weight_quantizer_->describe(), ") is attached already; a layer takes one");
  weight_quantizer_ = register_module("weight_quantizer", std::move(quantizer));
}

void QuantizableLayer::set_input_quantizer(std::shared_ptr<Quantizer> quantizer) {
  LOWBIT_CHECK(quantizer != nullptr, type_name(),
               "::set_input_quantizer: the quantizer is null; expected a Quantizer");
  LOWBIT_CHECK(input_quantizer_ == nullptr, type_name(), ": an input quantizer (",
               input_quantizer_->describe(), ") is attached already; a layer takes one");
  input_quantizer_ = register_module("input_quantizer", std::move(quantizer));
}

const Tensor& QuantizableLayer::add_bias() {
  if (!bias_.defined())
    bias_ = register_parameter("bias", ParamRole::kBias, Tensor::zeros({weight_.size(0)}));
  return bias_;
}

Tensor QuantizableLayer::quantized_input(const Tensor& x) const {
  return quantize_optional(input_quantizer_, x, (type_name() + " input").c_str());
}

Tensor QuantizableLayer::quantized_weight() const {
  return quantize_optional(weight_quantizer_, weight_, (type_name() + " weight").c_str());
}

}  // namespace lowbit
