// build_optimizers: which parameters get which optimizer and which weight decay. A step with
// zero gradients isolates the decay: SGD then moves a parameter by exactly -lr * wd * p.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "apps/run_setup.h"
#include "core/autograd.h"
#include "data/datasets.h"
#include "models/model_zoo.h"
#include "models/resnet.h"

namespace {

using namespace lowbit;

TrainConfig sgd_config(bool decay_norm_bias) {
  TrainConfig c;
  c.model = "resnet20";
  c.dataset = "cifar10";
  c.optimizer = "sgd";
  c.momentum = 0;
  c.lr = 0.5f;
  c.weight_decay = 0.1f;
  c.decay_norm_bias = decay_norm_bias;
  c.resolve();
  return c;
}

// Runs one step of every optimizer with all gradients zero; returns, per role, whether every
// parameter of that role shrank by exactly (1 - lr * wd) (true) or stayed put (false).
struct DecayByRole {
  bool weights_decayed = true, weights_kept = true, others_decayed = true, others_kept = true;
};

DecayByRole step_with_zero_grads(const TrainConfig& config) {
  auto model = build_model(config, dataset_info(config.dataset));
  auto optimizers = build_optimizers(config, *model);
  std::vector<Parameter> params = model->parameters();
  std::vector<Tensor> before;
  for (const Parameter& p : params) {
    // BN scales start at exactly 1 and shifts at 0: give every parameter non-zero values.
    float* v = p.tensor.data();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) v[i] = 0.25f + 0.001f * static_cast<float>(i % 7);
    before.push_back(p.tensor.clone());
  }
  for (auto& o : optimizers) o->zero_grad();
  for (const Parameter& p : params) {
    p.tensor.grad();  // allocates a zero-filled gradient
    p.tensor.zero_grad();
  }
  for (auto& o : optimizers) o->step();
  const float shrink = 1.0f - config.lr * config.weight_decay;
  DecayByRole r;
  for (size_t k = 0; k < params.size(); ++k) {
    const float* a = before[k].data();
    const float* b = params[k].tensor.data();
    bool decayed = true, kept = true;
    for (int64_t i = 0; i < before[k].numel(); ++i) {
      decayed = decayed && std::fabs(b[i] - a[i] * shrink) <= 1e-6f;
      kept = kept && b[i] == a[i];
    }
    bool& d = params[k].role == ParamRole::kWeight ? r.weights_decayed : r.others_decayed;
    bool& s = params[k].role == ParamRole::kWeight ? r.weights_kept : r.others_kept;
    d = d && decayed;
    s = s && kept;
  }
  return r;
}

}  // namespace

TEST_CASE("by default the weight decay applies to every parameter as in torch.optim", "[apps][optim]") {
  const TrainConfig config = sgd_config(true);
  auto model = build_model(config, dataset_info(config.dataset));
  CHECK(build_optimizers(config, *model).size() == 1);
  const DecayByRole r = step_with_zero_grads(config);
  CHECK(r.weights_decayed);
  CHECK(r.others_decayed);
}

TEST_CASE("no-decay-norm-bias exempts biases and BN parameters from the weight decay only", "[apps][optim]") {
  const TrainConfig config = sgd_config(false);
  auto model = build_model(config, dataset_info(config.dataset));
  CHECK(build_optimizers(config, *model).size() == 2);
  const DecayByRole r = step_with_zero_grads(config);
  CHECK(r.weights_decayed);
  CHECK(r.others_kept);
  CHECK_FALSE(r.others_decayed);
}

TEST_CASE("no-decay-norm-bias beside DST keeps the grid weights with DST and splits the rest", "[apps][optim]") {
  TrainConfig config = sgd_config(false);
  config.weights = "pow2";
  auto model = build_model(config, dataset_info(config.dataset));
  auto optimizers = build_optimizers(config, *model);
  REQUIRE(optimizers.size() == 3);
  CHECK(optimizers[0]->holds_parameter_values());
  size_t total = 0;
  for (const auto& o : optimizers) total += o->parameters().size();
  CHECK(total == model->parameters().size());
}

// The fraction of zeros over the grid weights of a freshly built pow2 resnet18 (p = -3).
double grid_zero_fraction(const std::string& grid_init, const std::string& layer) {
  TrainConfig config;
  config.model = "resnet18";
  config.dataset = "cifar10";
  config.weights = "pow2";
  config.grid_init = grid_init;
  config.resolve();
  auto model = build_model(config, dataset_info(config.dataset));
  auto optimizers = build_optimizers(config, *model);
  for (const Parameter& p : model->parameters()) {
    if (p.name != layer) continue;
    int64_t zeros = 0;
    for (int64_t i = 0; i < p.tensor.numel(); ++i) zeros += p.tensor.data()[i] == 0.0f;
    return static_cast<double>(zeros) / static_cast<double>(p.tensor.numel());
  }
  FAIL("no parameter " << layer);
  return 0;
}

TEST_CASE("grid-init nearest projects He initialization as it is, fitted scales it first", "[apps][optim]") {
  // The last 3x3 convolution (512 x 512 x 3 x 3): He's std sqrt(2 / 4608) = 0.021, so nearly every
  // weight is below the first threshold L / 2 = 1/16 (2.98 std: 0.29% above) when projected as it is.
  const std::string last = "stages.3.1.conv2.weight";
  const double nearest = grid_zero_fraction("nearest", last), fitted = grid_zero_fraction("fitted", last);
  INFO("zeros: nearest " << nearest << ", fitted " << fitted);
  CHECK(nearest > 0.99);
  CHECK(fitted < 0.2);
  TrainConfig bad;
  bad.weights = "pow2";
  bad.grid_init = "uniform";
  auto model = build_model(bad, dataset_info("cifar10"));
  CHECK_THROWS_WITH(build_optimizers(bad, *model), Catch::Contains("unknown grid initialization 'uniform'"));
}

TEST_CASE("zero-init-residual zeroes the last BN scale of every residual branch only", "[apps][models]") {
  TrainConfig config;
  config.model = "resnet20";
  config.dataset = "cifar10";
  config.zero_init_residual = true;
  config.resolve();
  auto model = build_model(config, dataset_info(config.dataset));
  int64_t zeroed = 0, kept = 0;
  for (const Parameter& p : model->parameters()) {
    const bool is_bn_scale = p.name.find(".bn") != std::string::npos && p.name.size() > 7 &&
                             p.name.compare(p.name.size() - 7, 7, ".weight") == 0;
    if (!is_bn_scale) continue;
    const bool last_of_branch = p.name.find(".bn2.weight") != std::string::npos;
    for (int64_t i = 0; i < p.tensor.numel(); ++i) {
      INFO(p.name << "[" << i << "]");
      CHECK(p.tensor.data()[i] == (last_of_branch ? 0.0f : 1.0f));
    }
    (last_of_branch ? zeroed : kept) += 1;
  }
  CHECK(zeroed == 9);  // resnet20: 3 stages of 3 blocks
  CHECK(kept == 9);    // bn1 of every block
  // resnet50's Bottleneck: bn3 is the last of the branch.
  Rng rng(1);
  CHECK(zero_init_residual(*make_model("resnet50", ModelOptions{}, rng)) == 16);

  TrainConfig plain = config;
  plain.zero_init_residual = false;
  auto untouched = build_model(plain, dataset_info(plain.dataset));
  for (const Parameter& p : untouched->parameters()) {
    if (p.name.find(".bn2.weight") != std::string::npos) CHECK(p.tensor.data()[0] == 1.0f);
  }

  TrainConfig lenet = config;
  lenet.model = "lenet5";
  lenet.dataset = "mnist";
  CHECK_THROWS_WITH(build_model(lenet, dataset_info(lenet.dataset)), Catch::Contains("--zero-init-residual: lenet5 has no residual"));
}

TEST_CASE("the saved configuration round-trips the training recipe flags", "[apps]") {
  TrainConfig c;
  c.schedule = "linear";
  c.flip = "alternate";
  c.zero_init_residual = true;
  c.tta_flip = true;
  c.label_smoothing = 0.1f;
  c.decay_norm_bias = false;
  c.resolve();
  const nlohmann::json saved = to_json(c);
  const TrainConfig back = train_config_from_json(saved);
  CHECK(back.schedule == "linear");
  CHECK(back.flip == "alternate");
  CHECK(back.zero_init_residual);
  CHECK(back.tta_flip);
  CHECK(to_json(back) == saved);
  // A run saved before these options existed reads as the defaults.
  nlohmann::json old = saved;
  old.erase("flip");
  old.erase("zero_init_residual");
  old.erase("tta_flip");
  const TrainConfig older = train_config_from_json(old);
  CHECK(older.flip == "random");
  CHECK_FALSE(older.tta_flip);
  CHECK_FALSE(older.zero_init_residual);
}
