// GraphWriter: ONNX models written node by node with the onnx.proto classes, for the tests of
// the importer and of lowbit-import.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/onnx/onnx_import.h"

namespace lowbit::testing {

// Builds a ModelProto node by node.
struct GraphWriter {
  onnx::ModelProto model;
  onnx::GraphProto* graph = model.mutable_graph();

  explicit GraphWriter(std::vector<int64_t> input_dims, int64_t opset = 13) {
    model.set_ir_version(8);
    model.set_producer_name("lowbit-test");
    onnx::OperatorSetIdProto* o = model.add_opset_import();
    o->set_version(opset);
    onnx::ValueInfoProto* in = graph->add_input();
    in->set_name("input");
    auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : input_dims) shape->add_dim()->set_dim_value(d);
  }
  void initializer(const std::string& name, const Tensor& t) {
    onnx::TensorProto* p = graph->add_initializer();
    p->set_name(name);
    p->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : t.shape().dims()) p->add_dims(d);
    for (float v : t.to_vector()) p->add_float_data(v);
  }
  void ints(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto* p = graph->add_initializer();
    p->set_name(name);
    p->set_data_type(onnx::TensorProto::INT64);
    p->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) p->add_int64_data(v);
  }
  onnx::NodeProto* node(const std::string& op, std::vector<std::string> inputs,
                        const std::string& output) {
    onnx::NodeProto* n = graph->add_node();
    n->set_op_type(op);
    n->set_name(output);
    for (const std::string& i : inputs) n->add_input(i);
    n->add_output(output);
    return n;
  }
  static void attribute(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attribute(onnx::NodeProto* n, const std::string& name, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  // The model with `output` as its graph output, serialized.
  std::string bytes(const std::string& output) {
    graph->add_output()->set_name(output);
    std::string serialized;
    model.SerializeToString(&serialized);
    return serialized;
  }
  OnnxImport import(const std::string& output) {
    return import_onnx_bytes(bytes(output), "test.onnx");
  }
};

}  // namespace lowbit::testing
