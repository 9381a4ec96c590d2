// The recipe table and how a recipe meets the command line.
#include "apps/train/recipes.h"

#include <sstream>

#include "core/check.h"

namespace lowbit {

namespace {

using nlohmann::json;

// SGD with Nesterov momentum, one warm-up epoch, cosine decay, weight decay 5e-4 on weights only:
// He et al.'s CIFAR recipe with the cosine schedule that has since replaced its step decays.
json cifar_sgd(double lr, int epochs) {
  return {{"optimizer", "sgd"},     {"lr", lr},
          {"momentum", 0.9},        {"nesterov", true},
          {"weight_decay", 5e-4},   {"decay_norm_bias", false},
          {"schedule", "cosine"},   {"warmup_epochs", 1},
          {"epochs", epochs},       {"batch_size", 128},
          {"label_smoothing", 0.0}, {"augment", true}};
}

// DST on the power-of-two grid: Adam's step proposes each transition, and its rate is 10x the
// float default because a weight jumps with probability about th |dw| / L per step
// (docs/reproductions.md); cosine to zero lets the grid settle.
json dst_adam(int epochs, int warmup_epochs, double th) {
  return {{"optimizer", "adam"},
          {"lr", 1e-2},
          {"weight_decay", 0.0},
          {"schedule", "cosine"},
          {"warmup_epochs", warmup_epochs},
          {"epochs", epochs},
          {"batch_size", 128},
          {"label_smoothing", 0.0},
          {"dst_th", th},
          {"augment", true}};
}

json merged(json base, const json& extra) {
  base.update(extra);
  return base;
}

// LeNet-5 in float: Adam at its default rate, cosine, 20 epochs, and random shifts of up to
// `shift` pixels.
json lenet5_adam(int shift) {
  return {{"optimizer", "adam"}, {"lr", 1e-3},
          {"weight_decay", 0.0}, {"schedule", "cosine"},
          {"warmup_epochs", 0},  {"epochs", 20},
          {"batch_size", 128},   {"label_smoothing", 0.0},
          {"augment", true},     {"crop_padding", shift},
          {"tta_flip", false}};
}

std::vector<Recipe> build_table() {
  std::vector<Recipe> t;
  t.push_back({"lenet5",
               "LeNet-5 in float: Adam 1e-3, cosine, 20 epochs, random shifts of up to 2 pixels",
               "lenet5 with float weights, on every data set but fashion-mnist",
               lenet5_adam(2),
               {{"lenet5 on mnist", "99.41% test (no shifts: 99.17%)",
                 "20 epochs, 133 s on 1 thread", "docs/baselines.md, Recipes"}}});
  // Shifts take MNIST's error from 0.83% to 0.59% but leave Fashion-MNIST's model underfitting
  // (training accuracy at test accuracy, 90.0%): without them it fits to 93.9% and tests higher.
  t.push_back({"lenet5-fashion-mnist",
               "LeNet-5 in float on Fashion-MNIST: the lenet5 recipe without the shifts",
               "lenet5 with float weights on fashion-mnist",
               lenet5_adam(0),
               {{"lenet5 on fashion-mnist",
                 "90.38% test on 1 thread, 90.43% on 2 (with shifts: 90.17%, 89.91%)",
                 "20 epochs, 62 s on 2 threads", "docs/baselines.md, Recipes"}}});
  t.push_back({"lenet5-pow2",
               "LeNet-5 with power-of-two weights by DST: Adam 1e-2, cosine, th 1, 20 epochs, no "
               "shifts (the grid "
               "model underfits, and shifted images raised its error)",
               "lenet5 with --weights pow2",
               merged(dst_adam(20, 0, 1.0), {{"crop_padding", 0}, {"tta_flip", false}}),
               {{"lenet5 on mnist, --act pow2 (3 bits, q2 1/8), weights [-3, 0.125]",
                 "98.84% test, mean of seeds 0-2 (98.93, 98.85, 98.75)",
                 "20 epochs, 102-120 s on 1 thread", "docs/reproductions.md, Closing the gap"},
                {"lenet5 on fashion-mnist, --act pow2", "89.75% test (float, its recipe: 90.38%)",
                 "20 epochs, 474 s on 1 thread beside other runs", "docs/baselines.md, Recipes"}}});
  t.push_back({"cifar-resnet",
               "He et al.'s CIFAR ResNets in float: SGD 0.1 Nesterov, weight decay 5e-4 (not on BN "
               "and biases), "
               "one warm-up epoch, cosine, 160 epochs, flip-averaged evaluation, all 50,000 images",
               "resnet20 and resnet56 with float weights on cifar10",
               merged(cifar_sgd(0.1, 160), {{"tta_flip", true}, {"val_split", 0}}),
               {{"resnet20 on cifar10, the same recipe for 40 epochs",
                 "88.42% test (flip-averaged), 87.36% single view",
                 "40 epochs, 5,163 s on 1 thread", "docs/baselines.md, ResNet-20, 40 epochs"}}});
  t.push_back({"resnet18-cifar10",
               "ResNet-18 (and 34, 50) in float: SGD 0.1 Nesterov, weight decay 5e-4 (not on BN "
               "and biases), one "
               "warm-up epoch, cosine, 60 epochs, flip-averaged evaluation, all 50,000 images",
               "resnet18, resnet34 and resnet50 with float weights on cifar10",
               merged(cifar_sgd(0.1, 60), {{"tta_flip", true}, {"val_split", 0}}),
               {}});
  t.push_back(
      {"vgg-cifar10",
       "VGG with BN in float: SGD 0.05 Nesterov, weight decay 5e-4, one warm-up epoch, cosine, 15 "
       "epochs",
       "vgg7, vgg11 and vgg16 with float weights on cifar10",
       merged(cifar_sgd(0.05, 15),
              {{"decay_norm_bias", true}, {"tta_flip", false}, {"val_split", 5000}}),
       {{"vgg7 on cifar10", "87.73% test", "15 epochs, 8,007 s on 1 thread beside another run",
         "docs/reproductions.md, VGG-7, 15 epochs"}}});
  t.push_back(
      {"mobilenetv2-cifar10",
       "MobileNet-v2 in float: SGD 0.1 Nesterov, weight decay 4e-5, one warm-up epoch, cosine, 30 "
       "epochs",
       "mobilenetv2 with float weights on cifar10",
       merged(cifar_sgd(0.1, 30), {{"weight_decay", 4e-5},
                                   {"decay_norm_bias", true},
                                   {"tta_flip", false},
                                   {"val_split", 5000}}),
       {{"mobilenetv2 on cifar10", "87.38% test (final model; 87.49% for best.ckpt)",
         "30 epochs, about 250 s an epoch on 2 threads", "docs/reproductions.md, MobileNet-v2"}}});
  t.push_back(
      {"cifar-pow2",
       "CIFAR models with power-of-two weights by DST: Adam 1e-2, one warm-up epoch, cosine, th "
       "0.5, "
       "30 epochs",
       "every model but lenet5 with --weights pow2, on cifar10 and svhn",
       merged(dst_adam(30, 1, 0.5), {{"tta_flip", false}, {"val_split", 5000}}),
       {{"resnet20 on cifar10, --act pow2 (3 bits, q2 1/8), weights [-3, 0.125]", "69.60% test",
         "30 epochs, 3,191 s on 1 thread", "docs/reproductions.md, Closing the gap"}}});
  t.push_back({"svhn",
               "SVHN in float: SGD 0.05 Nesterov, weight decay 5e-4 (not on BN and biases), one "
               "warm-up epoch, "
               "cosine, 20 epochs, crops without flips (digits do not mirror)",
               "every model but lenet5 with float weights on svhn",
               merged(cifar_sgd(0.05, 20), {{"tta_flip", false}, {"val_split", 5000}}),
               {}});
  t.push_back({"generic",
               "Adam 1e-3, cosine, 30 epochs: a safe start where no recipe has been measured",
               "any other model and data set",
               {{"optimizer", "adam"},
                {"lr", 1e-3},
                {"weight_decay", 0.0},
                {"schedule", "cosine"},
                {"warmup_epochs", 0},
                {"epochs", 30},
                {"batch_size", 128},
                {"label_smoothing", 0.0}},
               {}});
  // The paper's method as written (Long et al. 2020): eq. 7's backward and BN as initialized. Kept
  // so that reproductions of its tables stay honest; the pow2 recipes above replace both.
  t.push_back({"dst-paper",
               "the paper's method as written: power-of-two weights [-3, 0.125] by DST (Adam 1e-2, "
               "th 0.5), 3-bit "
               "activations with q2 1/8 and eq. 7's backward, BN as initialized, first layer "
               "float, 20 epochs",
               "nothing by default: choose it with --recipe dst-paper",
               merged(dst_adam(20, 0, 0.5), {{"weights", "pow2"},
                                             {"weight_min_exp", -3},
                                             {"act", "pow2"},
                                             {"act_bits", 3},
                                             {"act_q2", 0.125},
                                             {"act_backward", "eq7"},
                                             {"bn_scale_init", 1.0},
                                             {"quantize_first", false},
                                             {"crop_padding", 0},
                                             {"tta_flip", false}}),
               {{"lenet5 on mnist", "97.93% test (error 2.07%; the paper: 0.96%)", "20 epochs",
                 "docs/reproductions.md, Closing the gap"}}});
  return t;
}

bool is_cifar_form(const std::string& model) { return model != "lenet5"; }

}  // namespace

const std::vector<Recipe>& recipe_table() {
  static const std::vector<Recipe> table = build_table();
  return table;
}

const Recipe& find_recipe(const std::string& name) {
  std::string known;
  for (const Recipe& r : recipe_table()) {
    if (r.name == name) return r;
    known += (known.empty() ? "" : ", ") + r.name;
  }
  throw Error(concat("--recipe ", name, ": unknown recipe; known recipes: ", known,
                     " (see --list-recipes)"));
}

const Recipe& default_recipe(const std::string& model, const std::string& dataset,
                             const std::string& weights) {
  const bool pow2 = weights == "pow2";
  if (model == "lenet5" && pow2) return find_recipe("lenet5-pow2");
  if (model == "lenet5")
    return find_recipe(dataset == "fashion-mnist" ? "lenet5-fashion-mnist" : "lenet5");
  const bool color = dataset == "cifar10" || dataset == "svhn";
  if (!is_cifar_form(model) || !color) return find_recipe("generic");
  if (pow2) return find_recipe("cifar-pow2");
  if (dataset == "svhn") return find_recipe("svhn");
  if (model == "resnet20" || model == "resnet56") return find_recipe("cifar-resnet");
  if (model == "resnet18" || model == "resnet34" || model == "resnet50")
    return find_recipe("resnet18-cifar10");
  if (model.rfind("vgg", 0) == 0) return find_recipe("vgg-cifar10");
  if (model == "mobilenetv2") return find_recipe("mobilenetv2-cifar10");
  return find_recipe("generic");
}

void apply_recipe(const Recipe& recipe, const std::set<std::string>& given, TrainConfig& config) {
  json values = recipe.values;
  const bool other_optimizer = given.count("optimizer") > 0 && values.contains("optimizer") &&
                               values.at("optimizer").get<std::string>() != config.optimizer;
  json merged_config = to_json(config);
  for (const auto& [key, value] : values.items()) {
    LOWBIT_CHECK(merged_config.contains(key), "recipe ", recipe.name, ": ", key,
                 " is not a training setting");
    if (given.count(key) > 0) continue;
    if (other_optimizer &&
        (key == "lr" || key == "momentum" || key == "nesterov" || key == "weight_decay"))
      continue;
    merged_config[key] = value;
  }
  merged_config["recipe"] = recipe.name;
  config = train_config_from_json(merged_config);
  // A run shorter than its recipe's warm-up (--epochs 1 for a try) warms up for all but its last
  // epoch instead of failing over a value the user never gave.
  if (given.count("warmup_epochs") == 0 && config.warmup_epochs >= config.epochs)
    config.warmup_epochs = config.epochs - 1;
}

std::string format_recipe_table() {
  std::ostringstream out;
  for (const Recipe& r : recipe_table()) {
    out << r.name << "\n  " << r.purpose << "\n  default for: " << r.default_for << "\n  values:";
    for (const auto& [key, value] : r.values.items()) out << " " << key << "=" << value.dump();
    out << "\n";
    if (r.results.empty()) out << "  expected: no run of this recipe recorded yet\n";
    for (const RecipeResult& result : r.results)
      out << "  expected: " << result.run << ": " << result.accuracy << "; " << result.time << " ("
          << result.source << ")\n";
  }
  return out.str();
}

}  // namespace lowbit
