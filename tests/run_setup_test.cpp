// run_setup: which parameters get which optimizer and which weight decay (a step with zero
// gradients isolates the decay: SGD then moves a parameter by exactly -lr * wd * p), the
// power-of-two defaults, --init-from and --teacher.
#include "apps/train/run_setup.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

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
    for (int64_t i = 0; i < p.tensor.numel(); ++i)
      v[i] = 0.25f + 0.001f * static_cast<float>(i % 7);
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

TEST_CASE("by default the weight decay applies to every parameter as in torch.optim",
          "[apps][optim]") {
  const TrainConfig config = sgd_config(true);
  auto model = build_model(config, dataset_info(config.dataset));
  CHECK(build_optimizers(config, *model).size() == 1);
  const DecayByRole r = step_with_zero_grads(config);
  CHECK(r.weights_decayed);
  CHECK(r.others_decayed);
}

TEST_CASE("no-decay-norm-bias exempts biases and BN parameters from the weight decay only",
          "[apps][optim]") {
  const TrainConfig config = sgd_config(false);
  auto model = build_model(config, dataset_info(config.dataset));
  CHECK(build_optimizers(config, *model).size() == 2);
  const DecayByRole r = step_with_zero_grads(config);
  CHECK(r.weights_decayed);
  CHECK(r.others_kept);
  CHECK_FALSE(r.others_decayed);
}

TEST_CASE("no-decay-norm-bias beside DST keeps the grid weights with DST and splits the rest",
          "[apps][optim]") {
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

TEST_CASE("grid-init nearest projects He initialization as it is, fitted scales it first",
          "[apps][optim]") {
  // The last 3x3 convolution (512 x 512 x 3 x 3): He's std sqrt(2 / 4608) = 0.021, so nearly every
  // weight is below the first threshold L / 2 = 1/16 (2.98 std: 0.29% above) when projected as it
  // is.
  const std::string last = "layer4.1.conv2.weight";
  const double nearest = grid_zero_fraction("nearest", last),
               fitted = grid_zero_fraction("fitted", last);
  INFO("zeros: nearest " << nearest << ", fitted " << fitted);
  CHECK(nearest > 0.99);
  CHECK(fitted < 0.2);
  TrainConfig bad;
  bad.weights = "pow2";
  bad.grid_init = "uniform";
  auto model = build_model(bad, dataset_info("cifar10"));
  CHECK_THROWS_WITH(build_optimizers(bad, *model),
                    Catch::Contains("unknown grid initialization 'uniform'"));
}

TEST_CASE("zero-init-residual zeroes the last BN scale of every residual branch only",
          "[apps][models]") {
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
  CHECK_THROWS_WITH(
      build_model(lenet, dataset_info(lenet.dataset)),
      Catch::Contains(
          "zero_init_residual (--zero-init-residual) is set, but lenet5 has no residual"));
}

TEST_CASE("residual-act branch-input moves every ResNet block's last activation to its input",
          "[apps][models]") {
  TrainConfig config;
  config.model = "resnet20";
  config.dataset = "cifar10";
  config.act = "pow2";
  config.residual_act = "branch-input";
  config.resolve();
  const auto model = build_model(config, dataset_info(config.dataset));
  // Blocks whose activation follows the sum.
  std::function<int(const Module&)> sum_ends = [&](const Module& m) {
    const auto* b = dynamic_cast<const ResidualBlock*>(&m);
    int blocks = b && !b->activation().empty() ? 1 : 0;
    for (const auto& entry : m.children()) blocks += sum_ends(*entry.second);
    return blocks;
  };
  CHECK(sum_ends(*model) == 0);
  CHECK(model->child("layer3").child("2").child("relu_in").type_name() ==
        model->child("relu").type_name());
  TrainConfig published = config;
  published.residual_act = "after-sum";
  CHECK(sum_ends(*build_model(published, dataset_info(published.dataset))) == 9);

  TrainConfig lenet = config;
  lenet.model = "lenet5";
  lenet.dataset = "mnist";
  CHECK_THROWS_WITH(build_model(lenet, dataset_info(lenet.dataset)),
                    Catch::Contains("residual_act (--residual-act) is branch-input, but lenet5 "
                                    "has no residual blocks"));
  TrainConfig unknown = config;
  unknown.residual_act = "before";
  CHECK_THROWS_WITH(build_model(unknown, dataset_info(unknown.dataset)),
                    Catch::Contains("residual_act before: expected after-sum or branch-input"));
}

TEST_CASE("the saved configuration round-trips the training recipe flags", "[apps]") {
  TrainConfig c;
  c.schedule = "linear";
  c.flip = "alternate";
  c.zero_init_residual = true;
  c.tta_flip = true;
  c.label_smoothing = 0.1f;
  c.decay_norm_bias = false;
  c.residual_act = "branch-input";
  c.resolve();
  const nlohmann::json saved = to_json(c);
  const TrainConfig back = train_config_from_json(saved);
  CHECK(back.schedule == "linear");
  CHECK(back.flip == "alternate");
  CHECK(back.zero_init_residual);
  CHECK(back.tta_flip);
  CHECK(back.residual_act == "branch-input");
  CHECK(to_json(back) == saved);
  // A run saved before these options existed reads as the defaults.
  nlohmann::json old = saved;
  old.erase("flip");
  old.erase("zero_init_residual");
  old.erase("tta_flip");
  old.erase("residual_act");
  const TrainConfig older = train_config_from_json(old);
  CHECK(older.residual_act == "after-sum");
  CHECK(older.flip == "random");
  CHECK_FALSE(older.tta_flip);
  CHECK_FALSE(older.zero_init_residual);
}

TEST_CASE("a power-of-two run with no other flag resolves to the measured recipe", "[apps]") {
  TrainConfig pow2;
  pow2.model = "lenet5";
  pow2.dataset = "mnist";
  pow2.weights = "pow2";
  pow2.act = "pow2";
  pow2.resolve();
  CHECK(pow2.optimizer == "adam");
  CHECK(pow2.lr == 1e-2f);
  CHECK(pow2.act_backward == "clipped");
  CHECK(pow2.bn_scale_init == Approx(0.125 / 0.8430).epsilon(1e-3));
  CHECK(pow2.recalibrate_bn == 5120);
  auto model = build_model(pow2, dataset_info("mnist"));
  int64_t scales = 0;
  for (const Parameter& p : model->parameters()) {
    if (p.role != ParamRole::kNormScale) continue;
    ++scales;
    CHECK(p.tensor.data()[0] == pow2.bn_scale_init);
  }
  CHECK(scales == 4);
  // Float stays as it was: Adam 1e-3, BN at 1; an explicit value wins over the default.
  TrainConfig plain;
  plain.resolve();
  CHECK(plain.lr == 1e-3f);
  CHECK(plain.bn_scale_init == 1.0f);
  TrainConfig given = pow2;
  given.lr = 3e-3f;
  given.bn_scale_init = 0.5f;
  given.resolve();
  CHECK(given.lr == 3e-3f);
  CHECK(given.bn_scale_init == 0.5f);
  TrainConfig zero = pow2;
  zero.bn_scale_init = 0.0f;
  CHECK_THROWS_WITH(build_model(zero, dataset_info("mnist")), Catch::Contains("--bn-scale-init 0"));
}

TEST_CASE("a run saved before the activation options existed reads as eq. 7 with BN at 1",
          "[apps]") {
  TrainConfig c;
  c.weights = "pow2";
  c.act = "pow2";
  c.teacher = "runs/t/best.ckpt";
  c.init_from = "runs/f/best.ckpt";
  c.distill_weight = 0.5f;
  c.resolve();
  const nlohmann::json saved = to_json(c);
  CHECK(to_json(train_config_from_json(saved)) == saved);
  nlohmann::json old = saved;
  for (const char* key :
       {"act_backward", "bn_scale_init", "teacher", "init_from", "distill_weight"})
    old.erase(key);
  const TrainConfig older = train_config_from_json(old);
  CHECK(older.act_backward == "eq7");
  CHECK(older.bn_scale_init == 1.0f);
  CHECK(older.teacher.empty());
  CHECK(older.init_from.empty());
}

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir()
      : path(std::filesystem::temp_directory_path() /
             ("lowbit_run_setup_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// Saves `model` as a lowbit-train checkpoint of `config` (no optimizer, epoch 3).
void save_run(const std::string& path, const TrainConfig& config, const Module& model) {
  RunProgress progress;
  progress.epochs_done = 3;
  save_training_checkpoint(path, to_json(config), model, {}, progress);
}

}  // namespace

TEST_CASE(
    "init-from copies a float model, scales its BNs for the levels, and DST projects its weights",
    "[apps][optim]") {
  TempDir dir;
  TrainConfig source;
  source.model = "resnet20";
  source.dataset = "cifar10";
  source.seed = 11;
  source.resolve();
  auto float_model = build_model(source, dataset_info("cifar10"));
  // Trained-looking BN values, so that the copy is visible.
  for (const Parameter& p : float_model->parameters()) {
    if (p.role == ParamRole::kNormScale) p.tensor.data()[0] = 1.5f;
    if (p.role == ParamRole::kNormShift) p.tensor.data()[0] = 0.25f;
  }
  const std::string ckpt = (dir.path / "float.ckpt").string();
  save_run(ckpt, source, *float_model);

  TrainConfig target = source;
  target.seed = 12;  // another initialization: everything must come from the checkpoint
  target.weights = "pow2";
  target.act = "pow2";
  target.bn_scale_init = -1;
  target.lr = -1;
  target.init_from = ckpt;
  target.resolve();
  auto model = build_model(target, dataset_info("cifar10"));
  const std::string line = initialize_from_checkpoint(*model, target);
  CHECK(line.find("epoch 3") != std::string::npos);
  CHECK(line.find("BN scaled by") != std::string::npos);
  const std::vector<Parameter> from = float_model->parameters(), to = model->parameters();
  REQUIRE(from.size() == to.size());
  for (size_t k = 0; k < from.size(); ++k) {
    const float expected = from[k].role == ParamRole::kWeight || from[k].role == ParamRole::kBias
                               ? from[k].tensor.data()[1]
                               : from[k].tensor.data()[1] * target.bn_scale_init;
    INFO(from[k].name);
    CHECK(to[k].tensor.data()[1] == expected);
  }
  // DST maps the copied weights to the grid by the fitted scale: signs agree wherever non-zero.
  auto optimizers = build_optimizers(target, *model);
  int64_t agree = 0, nonzero = 0;
  const Tensor& w = to[1].tensor;  // the first block's first convolution (the stem stays float)
  const Tensor& w0 = from[1].tensor;
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (w.data()[i] == 0.0f) continue;
    ++nonzero;
    agree += (w.data()[i] > 0) == (w0.data()[i] > 0);
  }
  CHECK(nonzero > w.numel() / 2);
  CHECK(agree == nonzero);

  // A source whose activations were already quantized keeps its BN as it is.
  const std::string quantized_ckpt = (dir.path / "pow2act.ckpt").string();
  TrainConfig pow2_source = source;
  pow2_source.act = "pow2";
  save_run(quantized_ckpt, pow2_source, *float_model);
  TrainConfig again = target;
  again.init_from = quantized_ckpt;
  auto second = build_model(again, dataset_info("cifar10"));
  CHECK(initialize_from_checkpoint(*second, again).find("BN scaled") == std::string::npos);
  for (const Parameter& p : second->parameters()) {
    if (p.role == ParamRole::kNormScale) CHECK(p.tensor.data()[0] == 1.5f);
  }

  // Another model, or a missing file, is named.
  TrainConfig other = target;
  other.model = "resnet56";
  auto resnet56 = build_model(other, dataset_info("cifar10"));
  CHECK_THROWS_WITH(initialize_from_checkpoint(*resnet56, other),
                    Catch::Contains("holds resnet20 on cifar10, expected resnet56 on cifar10"));
  TrainConfig missing = target;
  missing.init_from = (dir.path / "none.ckpt").string();
  CHECK_THROWS_WITH(initialize_from_checkpoint(*model, missing), Catch::Contains("none.ckpt"));
}

TEST_CASE("a teacher loads as a model of the same data set in evaluation mode", "[apps]") {
  TempDir dir;
  TrainConfig teacher_config;
  teacher_config.model = "lenet5";
  teacher_config.dataset = "mnist";
  teacher_config.resolve();
  auto lenet = build_model(teacher_config, dataset_info("mnist"));
  const std::string ckpt = (dir.path / "teacher.ckpt").string();
  save_run(ckpt, teacher_config, *lenet);
  TrainConfig student;
  student.model = "resnet20";  // any model of the same data set may learn from it
  student.dataset = "mnist";
  student.teacher = ckpt;
  auto teacher = load_teacher(student);
  CHECK_FALSE(teacher->is_training());
  CHECK(teacher->parameters().size() == lenet->parameters().size());
  student.dataset = "fashion-mnist";
  CHECK_THROWS_WITH(load_teacher(student),
                    Catch::Contains("trained on mnist, expected fashion-mnist"));
}
