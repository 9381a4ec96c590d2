// ONNX export: every zoo model (random weights, BN statistics moved off their start) and an
// imported graph export to a file that imports back to the same logits; python3-onnx's checker
// accepts every file (when python3-onnx is installed); metadata and names are kept; what has no
// ONNX form is refused by path. FAT's QDQ form and PTQ cells keep their codes in n bits.
#include "models/onnx/onnx_export.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "apps/train/evaluate.h"
#include "core/autograd.h"
#include "core/check.h"
#include "core/rng.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/flatten.h"
#include "layers/quant/ptq_quantize.h"
#include "layers/quant/uniform_quantizer.h"
#include "layers/sequential.h"
#include "models/model_zoo.h"
#include "models/module_paths.h"
#include "models/onnx/onnx_import.h"
#include "models/transforms/bn_folding.h"
#include "models/transforms/calibration.h"
#include "models/transforms/ptq_model.h"
#include "tests/gradcheck.h"
#include "tests/program_runs.h"
#include "tests/temp_root.h"
#include "tests/zoo_options.h"

using namespace lowbit;
using lowbit::testing::eval_no_grad;
using lowbit::testing::random_tensor;

namespace {

const lowbit::testing::TempRoot temp_root("lowbit_onnx_export_test");

// Running statistics and BN parameters away from their start, so that BN computes something.
void randomize_batch_norms(Module& model, Rng& rng) {
  for_each_module(model, [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&m))
      for (int64_t k = 0; k < bn->channels(); ++k) {
        bn->running_var().data()[k] = rng.uniform(0.5f, 2.0f);
        bn->running_mean().data()[k] = rng.uniform(-0.2f, 0.2f);
        bn->weight().data()[k] = rng.uniform(0.5f, 1.5f);
        bn->bias().data()[k] = rng.uniform(-0.2f, 0.2f);
      }
  });
}

// max |a - b| over max |a|.
double relative_difference(const Tensor& a, const Tensor& b) {
  Agreement agreement;
  accumulate_agreement(a, b, agreement);
  return agreement.relative_difference();
}

}  // namespace

TEST_CASE("every zoo model exports to ONNX and imports back to the same logits", "[onnx]") {
  for (const std::string name :
       {"lenet5", "resnet20", "resnet18", "resnet50", "vgg7", "vgg16", "mobilenetv2"}) {
    DYNAMIC_SECTION(name) {
      Rng rng(3);
      ModelOptions options = lowbit::testing::zoo_options(name);
      if (name == "resnet50" || name == "resnet18" || name == "vgg16")
        options.width_multiplier = 0.25f;
      std::shared_ptr<Module> model = make_model(name, options, rng);
      randomize_batch_norms(*model, rng);
      OnnxExportOptions o;
      o.channels = options.in_channels;
      o.side = options.image_size;
      o.metadata = {{"model", name}};
      const std::string bytes = export_onnx_bytes(*model, o);
      CHECK(model->is_training());  // the model gets its mode back

      const Tensor x = random_tensor({3, o.channels, o.side, o.side}, rng);
      const Tensor want = eval_no_grad(*model, x);
      const OnnxImport back = import_onnx_bytes(bytes, name + ".onnx");
      CHECK(back.opset == 13);
      CHECK(back.producer.rfind("lowbit ", 0) == 0);
      CHECK(back.input_name == "image");
      CHECK(back.output_name == "logits");
      const Tensor got = eval_no_grad(*back.model, x);
      REQUIRE(got.shape() == want.shape());
      INFO(name << ": worst |import(export) - lowbit| / scale " << relative_difference(want, got));
      CHECK(relative_difference(want, got) <= 1e-5);
      std::ofstream(temp_root.dir("zoo") / (name + ".onnx"), std::ios::binary) << bytes;
    }
  }
}

TEST_CASE("an ONNX export keeps the metadata and the lowbit names of parameters", "[onnx]") {
  Rng rng(1);
  std::shared_ptr<Module> model = make_model("lenet5", lowbit::testing::zoo_options("lenet5"), rng);
  OnnxExportOptions o;
  o.channels = 1;
  o.side = 28;
  o.metadata = {{"dataset", "mnist"}, {"classes", "0,1,2,3,4,5,6,7,8,9"}};
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(export_onnx_bytes(*model, o)));
  REQUIRE(proto.metadata_props_size() == 2);
  CHECK(proto.metadata_props(0).key() == "dataset");
  CHECK(proto.metadata_props(1).value() == "0,1,2,3,4,5,6,7,8,9");
  std::vector<std::string> names;
  for (const onnx::TensorProto& t : proto.graph().initializer()) names.push_back(t.name());
  for (const Parameter& p : model->parameters())
    CHECK(std::find(names.begin(), names.end(), p.name) != names.end());
  // The batch size is free: the input's first dimension is the symbol N.
  CHECK(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param() == "N");
}

namespace {

// A layer lowbit's exporter has never heard of.
class Doubler : public Module {
 public:
  Tensor forward(const Tensor& x) override { return add(x, x); }
  std::string type_name() const override { return "Doubler"; }
};

}  // namespace

TEST_CASE("ONNX export refuses a module with no ONNX form, naming it", "[onnx]") {
  Sequential model;
  model.add(std::make_shared<Flatten>()).add(std::make_shared<Doubler>());
  OnnxExportOptions o;
  o.channels = 1;
  o.side = 4;
  CHECK_THROWS_WITH(export_onnx_bytes(model, o),
                    Catch::StartsWith("ONNX export: 1 is a Doubler, which has no ONNX form"));
}

TEST_CASE("python3-onnx's checker accepts every exported zoo model", "[onnx][checker]") {
  if (!lowbit::testing::python_imports("onnx", "python3-onnx")) return;
  const std::string dir = temp_root.dir("checked").string();
  for (const std::string name : {"lenet5", "resnet20", "mobilenetv2"}) {
    Rng rng(2);
    ModelOptions options = lowbit::testing::zoo_options(name);
    std::shared_ptr<Module> model = make_model(name, options, rng);
    OnnxExportOptions o;
    o.channels = options.in_channels;
    o.side = options.image_size;
    export_onnx(*model, o, dir + "/" + name + ".onnx");
  }
  const auto checked = lowbit::testing::run_command(
      "cd " + dir +
      " && /usr/bin/python3 -c 'import onnx, sys; [onnx.checker.check_model(onnx.load(p), "
      "full_check=True) for p in sys.argv[1:]]; print(\"checked\", len(sys.argv) - 1)' "
      "lenet5.onnx resnet20.onnx mobilenetv2.onnx 2>&1");
  INFO(checked.output);
  CHECK(checked.status == 0);
  CHECK(checked.output.find("checked 3") != std::string::npos);
}

TEST_CASE("a FAT-quantized model exports as QDQ with n-bit codes and imports back", "[onnx]") {
  struct Case {
    const char* model;
    int bits;
    Thresholds thresholds;
    Granularity weights;
  };
  for (const Case& c : {Case{"lenet5", 4, Thresholds::kAsymmetric, Granularity::kVector},
                        Case{"resnet20", 8, Thresholds::kSymmetric, Granularity::kScalar},
                        Case{"mobilenetv2", 6, Thresholds::kSymmetric, Granularity::kVector}}) {
    DYNAMIC_SECTION(c.model << " " << c.bits << "-bit") {
      Rng rng(5);
      ModelOptions options = lowbit::testing::zoo_options(c.model);
      options.width_multiplier = std::string(c.model) == "mobilenetv2" ? 0.5f : 1.0f;
      std::shared_ptr<Module> model = make_model(c.model, options, rng);
      randomize_batch_norms(*model, rng);
      model->eval();
      const Tensor images =
          random_tensor({16, options.in_channels, options.image_size, options.image_size}, rng);
      fold_batch_norms(*model, images);
      UniformQuantizationOptions q;
      q.weight_bits = q.input_bits = c.bits;
      q.thresholds = c.thresholds;
      q.weight_granularity = c.weights;
      attach_calibrated_quantizers(*model, {images}, q);
      OnnxExportOptions o;
      o.channels = options.in_channels;
      o.side = options.image_size;
      const std::string bytes = export_onnx_bytes(*model, o);

      onnx::ModelProto proto;
      REQUIRE(proto.ParseFromString(bytes));
      int quantize = 0, dequantize = 0;
      for (const onnx::NodeProto& n : proto.graph().node()) {
        quantize += n.op_type() == "QuantizeLinear";
        dequantize += n.op_type() == "DequantizeLinear";
      }
      CHECK(quantize > 0);
      CHECK(dequantize == 2 * quantize);  // one for each input, one for each weight
      // Every code lies in the n-bit range of its type.
      const int64_t levels = int64_t{1} << c.bits;
      for (const onnx::TensorProto& t : proto.graph().initializer()) {
        if (t.data_type() != onnx::TensorProto::INT8 && t.data_type() != onnx::TensorProto::UINT8)
          continue;
        const bool is_int8 = t.data_type() == onnx::TensorProto::INT8;
        for (unsigned char byte : t.raw_data()) {
          const int64_t code = is_int8 ? static_cast<int8_t>(byte) : byte;
          INFO(t.name() << " code " << code);
          if (t.name().find("zero_point") != std::string::npos) continue;
          CHECK((is_int8 ? std::abs(code) <= levels / 2 - 1 : code <= levels - 1));
        }
      }
      // Imported again (QuantizeLinear + DequantizeLinear as QuantizeDequantize, the weights
      // dequantized): the same predictions, logits within a few grid steps.
      const OnnxImport back = import_onnx_bytes(bytes, "qdq.onnx");
      const Tensor want = eval_no_grad(*model, images), got = eval_no_grad(*back.model, images);
      Agreement agreement;
      accumulate_agreement(want, got, agreement);
      CHECK(agreement.agreeing == agreement.count);
      INFO("worst |import(export) - lowbit| / scale " << agreement.relative_difference());
      CHECK(agreement.relative_difference() <= 0.02);
    }
  }
}

TEST_CASE("a PTQ cell exports with its kernels as n-bit codes and imports back to its logits",
          "[onnx][ptq]") {
  struct Case {
    const char* model;
    const char* cell;
    Granularity granularity;
  };
  const std::string dir = temp_root.dir("ptq").string();
  std::vector<std::string> files;
  for (const Case& c : {Case{"resnet20", "sym-4", Granularity::kVector},
                        Case{"mobilenetv2", "asym-3", Granularity::kScalar},
                        Case{"lenet5", "asym-8", Granularity::kVector},
                        Case{"lenet5", "pow2-4", Granularity::kScalar}}) {
    DYNAMIC_SECTION(c.model << " " << c.cell) {
      Rng rng(9);
      ModelOptions options = lowbit::testing::zoo_options(c.model);
      options.width_multiplier = std::string(c.model) == "mobilenetv2" ? 0.5f : 1.0f;
      std::shared_ptr<Module> model = make_model(c.model, options, rng);
      randomize_batch_norms(*model, rng);
      model->eval();
      const PtqSpec spec = parse_ptq_spec_label(c.cell, c.granularity);
      const PtqModelResult ptq = ptq_quantize_model(*model, spec, PtqTargets{});
      OnnxExportOptions o;
      o.channels = options.in_channels;
      o.side = options.image_size;
      o.ptq = &ptq;
      const std::string bytes = export_onnx_bytes(*model, o);

      onnx::ModelProto proto;
      REQUIRE(proto.ParseFromString(bytes));
      int dequantize = 0, add = 0;
      for (const onnx::NodeProto& n : proto.graph().node()) {
        dequantize += n.op_type() == "DequantizeLinear";
        add += n.op_type() == "Add";
      }
      int64_t kernels = 0;
      for (const PtqTensor& t : ptq.tensors) kernels += t.shape.dims().size() >= 2;
      const bool codes = spec.scheme != PtqScheme::kPow2;
      CHECK(dequantize == (codes ? kernels : 0));
      // Asymmetric kernels add their grid's minimum; ResNet-20 and LeNet-5 have no other
      // constant Add (the residual sums add two computed values).
      if (std::string(c.model) == "lenet5") CHECK(add == (codes ? kernels : 0));
      // Every code within its n-bit range: symmetric |q| <= 2^(n-1) - 1, asymmetric k < 2^n.
      const int64_t levels = int64_t{1} << spec.bits;
      for (const onnx::TensorProto& t : proto.graph().initializer()) {
        if (t.name().size() < 6 || t.name().substr(t.name().size() - 6) != ".codes") continue;
        const bool is_int8 = t.data_type() == onnx::TensorProto::INT8;
        CHECK(is_int8 == (spec.scheme == PtqScheme::kSymmetric));
        for (unsigned char byte : t.raw_data()) {
          const int64_t code = is_int8 ? static_cast<int8_t>(byte) : byte;
          INFO(t.name() << " code " << code);
          CHECK((is_int8 ? std::abs(code) <= levels / 2 - 1 : code <= levels - 1));
        }
      }
      // min + k step and (q) step in float where lowbit rounds them from double: within a few
      // float roundings of each weight, so the logits agree to far better than 1e-5 of their scale.
      const OnnxImport back = import_onnx_bytes(bytes, "ptq.onnx");
      const Tensor images =
          random_tensor({8, options.in_channels, options.image_size, options.image_size}, rng);
      const double difference =
          relative_difference(eval_no_grad(*model, images), eval_no_grad(*back.model, images));
      INFO("worst |import(export) - lowbit| / scale " << difference);
      CHECK(difference <= 1e-5);
      const std::string file = std::string(c.model) + "-" + c.cell + ".onnx";
      std::ofstream(dir + "/" + file, std::ios::binary) << bytes;
      files.push_back(file);
    }
  }
  if (files.empty() || !lowbit::testing::python_imports("onnx", "python3-onnx")) return;
  std::string names;
  for (const std::string& f : files) names += " " + f;
  const auto checked = lowbit::testing::run_command(
      "cd " + dir +
      " && /usr/bin/python3 -c 'import onnx, sys; [onnx.checker.check_model(onnx.load(p), "
      "full_check=True) for p in sys.argv[1:]]' " +
      names + " 2>&1");
  INFO(checked.output);
  CHECK(checked.status == 0);
}
