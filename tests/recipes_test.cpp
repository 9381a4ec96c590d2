// Training recipes: the values each one pins, which runs take which by default, and how flags
// given on the command line override a recipe.
#include "apps/train/recipes.h"

#include <catch2/catch.hpp>
#include <iterator>
#include <set>
#include <string>

#include "apps/train/train_config.h"

using namespace lowbit;

namespace {

// A run of `model` on `dataset` with no flag but these, as lowbit-train resolves it.
TrainConfig resolved(const std::string& recipe, const std::set<std::string>& given = {},
                     TrainConfig config = {}) {
  apply_recipe(find_recipe(recipe), given, config);
  config.resolve();
  return config;
}

// The values every recipe's test checks, in one row.
struct Pinned {
  const char* recipe;
  const char* optimizer;
  float lr;
  float weight_decay;
  bool nesterov;
  bool decay_norm_bias;
  int warmup_epochs;
  int epochs;
  int crop_padding;
  bool tta_flip;
  int val_split;
  float dst_th;
};

}  // namespace

TEST_CASE("each recipe pins its optimizer, rate, schedule, length and augmentation",
          "[apps][recipes]") {
  // clang-format off
  const Pinned rows[] = {
    // recipe                opt     lr     wd     nest   decayNB warm ep   crop tta    val   th
    {"lenet5",               "adam", 1e-3f, 0.0f,  false, true,   0,   20,  2,   false, 5000, 0.5f},
    {"lenet5-fashion-mnist", "adam", 1e-3f, 0.0f,  false, true,   0,   20,  0,   false, 5000, 0.5f},
    {"lenet5-pow2",          "adam", 1e-2f, 0.0f,  false, true,   0,   20,  0,   false, 5000, 1.0f},
    {"cifar-resnet",         "sgd",  0.1f,  5e-4f, true,  false,  1,   160, -1,  true,  0,    0.5f},
    {"resnet18-cifar10",     "sgd",  0.1f,  5e-4f, true,  false,  1,   60,  -1,  true,  0,    0.5f},
    {"vgg-cifar10",          "sgd",  0.05f, 5e-4f, true,  true,   1,   15,  -1,  false, 5000, 0.5f},
    {"mobilenetv2-cifar10",  "sgd",  0.1f,  4e-5f, true,  true,   1,   30,  -1,  false, 5000, 0.5f},
    {"cifar-pow2",           "adam", 1e-2f, 0.0f,  false, true,   1,   30,  -1,  false, 5000, 0.5f},
    {"svhn",                 "sgd",  0.05f, 5e-4f, true,  false,  1,   20,  -1,  false, 5000, 0.5f},
    {"generic",              "adam", 1e-3f, 0.0f,  false, true,   0,   30,  -1,  false, 5000, 0.5f},
    {"dst-paper",            "adam", 1e-2f, 0.0f,  false, true,   0,   20,  0,   false, 5000, 0.5f},
  };
  // clang-format on
  REQUIRE(std::size(rows) == recipe_table().size());
  for (const Pinned& row : rows) {
    INFO(row.recipe);
    const TrainConfig c = resolved(row.recipe);
    CHECK(c.recipe == row.recipe);
    CHECK(c.optimizer == row.optimizer);
    CHECK(c.lr == row.lr);
    CHECK(c.weight_decay == row.weight_decay);
    CHECK(c.nesterov == row.nesterov);
    CHECK(c.decay_norm_bias == row.decay_norm_bias);
    CHECK(c.schedule == "cosine");
    CHECK(c.warmup_epochs == row.warmup_epochs);
    CHECK(c.epochs == row.epochs);
    CHECK(c.batch_size == 128);
    CHECK(c.label_smoothing == 0.0f);
    CHECK(c.augment);
    CHECK(c.crop_padding == row.crop_padding);
    CHECK(c.tta_flip == row.tta_flip);
    CHECK(c.val_split == row.val_split);
    CHECK(c.dst_th == row.dst_th);
  }
}

TEST_CASE(
    "the paper's method is one recipe: eq. 7, BN at 1, [-3, 0.125] weights and 3-bit activations",
    "[apps][recipes]") {
  const TrainConfig paper = resolved("dst-paper");
  CHECK(paper.weights == "pow2");
  CHECK(paper.weight_min_exp == -3);
  CHECK(paper.act == "pow2");
  CHECK(paper.act_bits == 3);
  CHECK(paper.act_q2 == 0.125f);
  CHECK(paper.act_backward == "eq7");
  CHECK(paper.bn_scale_init == 1.0f);
  CHECK_FALSE(paper.quantize_first);
  // The default recipes leave the model, data set, weights and activation to the flags.
  for (const Recipe& r : recipe_table()) {
    if (r.name == "dst-paper") continue;
    INFO(r.name);
    for (const char* key : {"model", "dataset", "weights", "act", "act_backward", "bn_scale_init"})
      CHECK_FALSE(r.values.contains(key));
  }
}

TEST_CASE("every model and data set has a default recipe, chosen by its weights",
          "[apps][recipes]") {
  CHECK(default_recipe("lenet5", "mnist", "float").name == "lenet5");
  CHECK(default_recipe("lenet5", "fashion-mnist", "float").name == "lenet5-fashion-mnist");
  CHECK(default_recipe("lenet5", "fashion-mnist", "pow2").name == "lenet5-pow2");
  CHECK(default_recipe("lenet5", "mnist", "pow2").name == "lenet5-pow2");
  CHECK(default_recipe("lenet5", "cifar10", "float").name == "lenet5");
  CHECK(default_recipe("resnet20", "cifar10", "float").name == "cifar-resnet");
  CHECK(default_recipe("resnet56", "cifar10", "float").name == "cifar-resnet");
  CHECK(default_recipe("resnet18", "cifar10", "float").name == "resnet18-cifar10");
  CHECK(default_recipe("resnet50", "cifar10", "float").name == "resnet18-cifar10");
  CHECK(default_recipe("vgg7", "cifar10", "float").name == "vgg-cifar10");
  CHECK(default_recipe("vgg16", "cifar10", "float").name == "vgg-cifar10");
  CHECK(default_recipe("mobilenetv2", "cifar10", "float").name == "mobilenetv2-cifar10");
  CHECK(default_recipe("resnet20", "cifar10", "pow2").name == "cifar-pow2");
  CHECK(default_recipe("vgg7", "svhn", "pow2").name == "cifar-pow2");
  CHECK(default_recipe("resnet20", "svhn", "float").name == "svhn");
  CHECK(default_recipe("resnet20", "mnist", "float").name == "generic");
  for (const char* model : {"lenet5", "vgg7", "vgg11", "vgg16", "resnet18", "resnet34", "resnet50",
                            "resnet20", "resnet56", "mobilenetv2"})
    for (const char* dataset : {"mnist", "fashion-mnist", "cifar10", "svhn"})
      for (const char* weights : {"float", "pow2"}) {
        INFO(model << " " << dataset << " " << weights);
        const TrainConfig c = resolved(default_recipe(model, dataset, weights).name);
        CHECK(c.epochs > 0);
        CHECK(c.lr > 0);
        // Flip averaging only where the data set flips.
        if (c.tta_flip) CHECK(std::string(dataset) == "cifar10");
      }
}

TEST_CASE("a flag given on the command line wins over its recipe", "[apps][recipes]") {
  TrainConfig given;
  given.lr = 0.02f;
  given.epochs = 3;
  given.crop_padding = 0;
  const TrainConfig c = resolved("lenet5", {"lr", "epochs", "crop_padding"}, given);
  CHECK(c.lr == 0.02f);
  CHECK(c.epochs == 3);
  CHECK(c.crop_padding == 0);
  CHECK(c.optimizer == "adam");  // not given: the recipe's
  // --optimizer given against the recipe's: the recipe's rate and decay belong to the other
  // optimizer, so the chosen one's own defaults apply (SGD: 0.1 and 5e-4), unless given too.
  TrainConfig sgd;
  sgd.optimizer = "sgd";
  const TrainConfig switched = resolved("lenet5", {"optimizer"}, sgd);
  CHECK(switched.optimizer == "sgd");
  CHECK(switched.lr == 0.1f);
  CHECK(switched.weight_decay == 5e-4f);
  CHECK(switched.epochs == 20);  // the rest of the recipe stays
  sgd.lr = 0.05f;
  CHECK(resolved("lenet5", {"optimizer", "lr"}, sgd).lr == 0.05f);
  // The same optimizer given explicitly keeps the recipe's rate.
  TrainConfig adam;
  CHECK(resolved("lenet5", {"optimizer"}, adam).lr == 1e-3f);
  // A run shorter than the recipe's warm-up warms up for all but its last epoch; a given warm-up
  // stays.
  TrainConfig short_run;
  short_run.epochs = 1;
  CHECK(resolved("cifar-resnet", {"epochs"}, short_run).warmup_epochs == 0);
  short_run.epochs = 2;
  CHECK(resolved("cifar-resnet", {"epochs"}, short_run).warmup_epochs == 1);
  short_run.epochs = 1;
  short_run.warmup_epochs = 1;
  CHECK(resolved("cifar-resnet", {"epochs", "warmup_epochs"}, short_run).warmup_epochs == 1);
  // A flag given for the paper's recipe keeps its own value there too.
  TrainConfig relu;
  CHECK(resolved("dst-paper", {"act"}, relu).act == "relu");
}

TEST_CASE("an unknown recipe is refused with the names of the known ones", "[apps][recipes]") {
  CHECK_THROWS_WITH(find_recipe("resnet"), Catch::Contains("--recipe resnet: unknown recipe") &&
                                               Catch::Contains("cifar-resnet") &&
                                               Catch::Contains("dst-paper"));
}

TEST_CASE("the recipe list shows each recipe's values, default runs and recorded accuracy",
          "[apps][recipes]") {
  const std::string table = format_recipe_table();
  for (const Recipe& r : recipe_table()) CHECK(table.find(r.name + "\n") != std::string::npos);
  CHECK(table.find("lr=0.05") != std::string::npos);
  CHECK(table.find("expected: lenet5 on mnist: 99.41% test") != std::string::npos);
  CHECK(table.find("expected: no run of this recipe recorded yet") != std::string::npos);
}

TEST_CASE("the recipe a run took round-trips through its saved configuration", "[apps][recipes]") {
  const TrainConfig c = resolved("vgg-cifar10");
  CHECK(train_config_from_json(to_json(c)).recipe == "vgg-cifar10");
  nlohmann::json old = to_json(c);
  old.erase("recipe");  // a run saved before recipes existed
  CHECK(train_config_from_json(old).recipe.empty());
}
