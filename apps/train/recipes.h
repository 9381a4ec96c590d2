// Training recipes: for a model and data set, the optimizer, rate, schedule, warm-up, weight
// decay, length, augmentation and label smoothing that reach a recorded accuracy.
//
// A recipe is a set of TrainConfig values keyed as in config.json. lowbit-train takes the
// recipe named by --recipe, else the default one of its model, data set and weights
// (default_recipe), and sets every value of it that no flag on the command line gave: a flag
// given explicitly always wins. Every accuracy a recipe promises comes from a run recorded in
// docs/baselines.md or docs/reproductions.md.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "apps/train/train_config.h"

namespace lowbit {

// A recorded run of a recipe: what it reached, in how long, and where the docs keep its command.
struct RecipeResult {
  std::string run;       // "resnet20 on cifar10"
  std::string accuracy;  // "88.42% test (flip-averaged), 87.36% single view"
  std::string time;      // "40 epochs, 86 min on 1 thread"
  std::string source;    // "docs/baselines.md, ResNet-20"
};

struct Recipe {
  std::string name;
  std::string purpose;                // one line: what it is for and where it comes from
  std::string default_for;            // the runs that take it when --recipe is not given
  nlohmann::json values;              // TrainConfig fields, keyed as in to_json(TrainConfig)
  std::vector<RecipeResult> results;  // empty: no run of this recipe is recorded yet
};

// Every recipe, in the order --list-recipes shows them.
const std::vector<Recipe>& recipe_table();

// The recipe called `name`; an unknown name throws, listing the known ones.
const Recipe& find_recipe(const std::string& name);

// The recipe a run takes when --recipe is not given.
const Recipe& default_recipe(const std::string& model, const std::string& dataset,
                             const std::string& weights);

// Sets every value of `recipe` on `config`, except the fields in `given`, and records the recipe's
// name. When --optimizer was given and differs from the recipe's, the recipe's rate, momentum,
// Nesterov and weight decay belong to the other optimizer and are left out too (resolve() then
// gives the chosen optimizer's own defaults). A recipe's warm-up that is not shorter than the run
// is cut to all but the last epoch.
void apply_recipe(const Recipe& recipe, const std::set<std::string>& given, TrainConfig& config);

// The table --list-recipes prints: each recipe, its values, whom it is the default for, and what
// its recorded runs reached.
std::string format_recipe_table();

}  // namespace lowbit
