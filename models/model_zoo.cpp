// The model table.
#include "models/model_zoo.h"

#include "core/check.h"
#include "models/lenet5.h"
#include "models/mobilenet_v2.h"
#include "models/resnet.h"
#include "models/vgg.h"

namespace lowbit {
namespace {

template <std::shared_ptr<Sequential> (*Build)(const ModelOptions&, Rng&)>
std::shared_ptr<Module> as_module(const ModelOptions& o, Rng& rng) {
  return Build(o, rng);
}

}  // namespace

const std::vector<ModelEntry>& model_table() {
  static const std::vector<ModelEntry> table = {
      {"lenet5", "LeNet-5: conv6-pool-conv16-pool-fc120-fc84-fc (28x28 or 32x32)",
       as_module<make_lenet5>},
      {"vgg7", "VGG-small: 2x128C3-MP-2x256C3-MP-2x512C3-MP-FC1024-FC with BN (32x32)",
       as_module<make_vgg7>},
      {"vgg11", "VGG-11 with BN (32x32)", as_module<make_vgg11>},
      {"vgg16", "VGG-16 with BN (32x32)", as_module<make_vgg16>},
      {"resnet18", "ResNet-18, CIFAR form: 3x3 stem, 64-512 channels, projection shortcuts (32x32)",
       make_resnet18},
      {"resnet34", "ResNet-34, CIFAR form (32x32)", make_resnet34},
      {"resnet50", "ResNet-50 with bottlenecks, CIFAR form (32x32)", make_resnet50},
      {"resnet20", "He et al.'s CIFAR ResNet-20: 16/32/64 channels, option-A shortcuts (32x32)",
       make_resnet20},
      {"resnet56", "He et al.'s CIFAR ResNet-56 (32x32)", make_resnet56},
      {"mobilenetv2", "MobileNet-v2 with width multiplier, ReLU6 (32x32 or 224x224)",
       make_mobilenet_v2},
  };
  return table;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelEntry& e : model_table()) names.push_back(e.name);
  return names;
}

const ModelEntry& model_entry(const std::string& name) {
  for (const ModelEntry& e : model_table()) {
    if (e.name == name) return e;
  }
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(concat("unknown model '", name, "'; known models: ", known));
}

std::shared_ptr<Module> make_model(const std::string& name, const ModelOptions& options, Rng& rng) {
  return model_entry(name).build(options, rng);
}

}  // namespace lowbit
