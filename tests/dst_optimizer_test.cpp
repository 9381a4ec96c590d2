// DstOptimizer: weights stay exactly on the grid, move against the gradient, jump with eq. 14's
// probability, do not depend on the thread count, and round-trip through their checkpoint blobs.
#include "optim/dst_optimizer.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"

using namespace lowbit;

namespace {

Parameter param(const std::string& name, const Shape& shape, float value) {
  Tensor t = Tensor::full(shape, value);
  t.set_requires_grad(true);
  return Parameter{name, ParamRole::kWeight, t};
}

Parameter random_param(const std::string& name, const Shape& shape, Rng& rng) {
  Parameter p = param(name, shape, 0.0f);
  float* w = p.tensor.data();
  for (int64_t i = 0; i < p.tensor.numel(); ++i) w[i] = rng.normal(0.0f, 0.4f);
  return p;
}

void set_random_grads(const std::vector<Parameter>& params, Rng& rng) {
  for (const Parameter& p : params) {
    float* g = p.tensor.grad();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) g[i] = rng.normal();
  }
}

void set_grads(const std::vector<Parameter>& params, float value) {
  for (const Parameter& p : params) {
    float* g = p.tensor.grad();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) g[i] = value;
  }
}

// Every float equals grid_value of its state bit for bit, every state is on the grid, |w| <= 1.
void require_on_grid(const DstOptimizer& opt) {
  for (size_t k = 0; k < opt.parameters().size(); ++k) {
    const Tensor& t = opt.parameters()[k].tensor;
    const std::vector<GridState>& s = opt.grid_states(k);
    REQUIRE(static_cast<int64_t>(s.size()) == t.numel());
    const float* w = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float decoded = grid_value(s[i], opt.spec());
      REQUIRE(is_grid_state(s[i], opt.spec()));
      REQUIRE(std::memcmp(&w[i], &decoded, sizeof(float)) == 0);
      REQUIRE(std::fabs(w[i]) <= 1.0f);
    }
  }
}

SgdOptions plain_sgd(float lr) {
  SgdOptions o;
  o.lr = lr;
  return o;
}

}  // namespace

TEST_CASE("DST projects the initial values onto the grid", "[dst_optimizer]") {
  Parameter p = param("w", {4}, 0.0f);
  const float init[] = {0.3f, -0.7f, 2.0f, 0.01f};
  std::memcpy(p.tensor.data(), init, sizeof init);
  DstOptimizer opt({p}, DstSpec{-2, 0.5f}, BaseOptimizerOptions{}, 1, GridInit::kNearest);
  CHECK(opt.grid_states(0) == std::vector<GridState>{1, -2, 4, 0});
  CHECK(opt.init_scale(0) == 1.0f);
  CHECK(p.tensor.to_vector() == std::vector<float>{0.25f, -0.5f, 1.0f, 0.0f});
  CHECK(opt.holds_parameter_values());
  CHECK(opt.type_name() == "DST+Adam");
}

TEST_CASE("DST weights stay exactly on the grid under random gradients", "[dst_optimizer]") {
  Rng rng(3);
  std::vector<Parameter> params = {random_param("conv.weight", {16, 3, 3, 3}, rng),
                                   random_param("fc.weight", {10, 40}, rng)};
  for (auto base : {BaseOptimizerOptions::with_adam(AdamOptions{0.05f}),
                    BaseOptimizerOptions::with_sgd(SgdOptions{0.2f, 0.9f})}) {
    DstOptimizer opt(params, DstSpec{-3, 0.5f}, base, 7);
    require_on_grid(opt);
    for (int step = 0; step < 200; ++step) {
      set_random_grads(params, rng);
      opt.step();
    }
    require_on_grid(opt);
    CHECK(opt.steps() == 200);
  }
}

TEST_CASE("DST moves weights against a fixed gradient sign", "[dst_optimizer]") {
  Rng rng(4);
  Parameter p = random_param("w", {2000}, rng);
  DstOptimizer opt({p}, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_adam(AdamOptions{0.05f}), 11);
  auto mean = [&] {
    double sum = 0;
    for (float v : p.tensor.to_vector()) sum += v;
    return sum / static_cast<double>(p.tensor.numel());
  };
  const double start = mean();
  for (int step = 0; step < 20; ++step) {
    const std::vector<float> before = p.tensor.to_vector();
    set_grads({p}, 1.0f);  // positive gradient: every weight may only go down
    opt.step();
    const std::vector<float> after = p.tensor.to_vector();
    for (size_t i = 0; i < before.size(); ++i) REQUIRE(after[i] <= before[i]);
  }
  const double lowered = mean();
  CHECK(lowered < start - 0.2);
  for (int step = 0; step < 40; ++step) {
    set_grads({p}, -1.0f);
    opt.step();
  }
  CHECK(mean() > lowered + 0.2);
  require_on_grid(opt);
}

TEST_CASE("DST jump frequencies match tanh(th |dw| / L) for |dw| < L", "[dst_optimizer]") {
  // Plain SGD with lr 1 proposes exactly the gradient: dw = -g = -fraction * L. Starting at state
  // 0, an element jumps to -1 with probability tanh(th * fraction) (eq. 14) and stays otherwise.
  const int64_t n = 200000;
  for (float th : {0.5f, 2.0f}) {
    for (float fraction : {0.1f, 0.5f, 0.9f}) {
      Parameter p = param("w", {n}, 0.0f);
      DstOptimizer opt({p}, DstSpec{-3, th}, BaseOptimizerOptions::with_sgd(plain_sgd(1.0f)), 21);
      set_grads({p}, fraction / 8.0f);
      opt.step();
      int64_t jumps = 0, others = 0;
      for (GridState s : opt.grid_states(0)) {
        jumps += s == -1;
        others += s != -1 && s != 0;
      }
      const double expected = std::tanh(static_cast<double>(th) * fraction);
      const double rate = static_cast<double>(jumps) / n;
      const double sigma = std::sqrt(expected * (1 - expected) / n);
      INFO("th " << th << ", |dw|/L " << fraction << ": " << rate << " vs " << expected);
      CHECK(others == 0);
      CHECK(std::fabs(rate - expected) < 5 * sigma);
    }
  }
}

TEST_CASE("DST whole steps are deterministic and SGD's proposal is lr times its momentum buffer",
          "[dst_optimizer]") {
  // L = 1/8. SGD lr 0.25, momentum 0.5, g = 1: the first proposal is 0.25 = 2L, so 0 -> -2 exactly.
  SgdOptions o{0.25f, 0.5f};
  Parameter p = param("w", {3}, 0.0f);
  DstOptimizer opt({p}, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_sgd(o), 5);
  CHECK(opt.type_name() == "DST+Sgd");
  set_grads({p}, 1.0f);
  opt.step();
  CHECK(opt.grid_states(0) == std::vector<GridState>{-2, -2, -2});
  CHECK(p.tensor.to_vector() == std::vector<float>{-0.25f, -0.25f, -0.25f});
  // Second: buffer 0.5 * 1 + 1 = 1.5, proposal 0.375 = 3L; -2 - 3 = -5 -> -4 or -8.
  opt.step();
  for (GridState s : opt.grid_states(0)) CHECK((s == -4 || s == -8));
  const std::vector<NamedTensor> state = opt.state();
  REQUIRE(state.size() == 2);
  CHECK(state[0].name == "base.momentum.w");
  CHECK(state[0].tensor.to_vector() == std::vector<float>{1.5f, 1.5f, 1.5f});
  CHECK(state[1].name == "base.started.w");
}

TEST_CASE("Sgd::propose_step returns what step subtracts", "[dst_optimizer]") {
  SgdOptions o{0.1f, 0.9f};
  o.weight_decay = 0.5f;
  Tensor a = Tensor::from_vector({2}, {1.0f, -2.0f}), b = a.clone();
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Sgd stepper({{"w", ParamRole::kWeight, a}}, o), proposer({{"w", ParamRole::kWeight, b}}, o);
  for (int step = 0; step < 3; ++step) {
    a.grad()[0] = b.grad()[0] = 0.5f * static_cast<float>(step);
    a.grad()[1] = b.grad()[1] = -1.0f;
    const std::vector<float> before = a.to_vector();
    float delta[2];
    proposer.propose_step(0, delta);
    for (int i = 0; i < 2; ++i) b.data()[i] -= delta[i];
    stepper.step();
    for (int i = 0; i < 2; ++i) CHECK(before[i] - delta[i] == a.to_vector()[i]);
  }
  // First step by hand: g = 0 + 0.5 * 1 = 0.5 -> delta 0.05; g = -1 - 1 = -2 -> delta -0.2.
  Tensor c = Tensor::from_vector({2}, {1.0f, -2.0f});
  c.set_requires_grad(true);
  Sgd fresh({{"w", ParamRole::kWeight, c}}, o);
  c.grad()[1] = -1.0f;
  float delta[2];
  fresh.propose_step(0, delta);
  CHECK(delta[0] == Approx(0.05f));
  CHECK(delta[1] == Approx(-0.2f));
}

TEST_CASE("DST set_lr drives the base optimizer's step size", "[dst_optimizer]") {
  Parameter p = param("w", {4}, 0.0f);
  DstOptimizer opt({p}, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_sgd(plain_sgd(0.25f)), 5);
  CHECK(opt.lr() == 0.25f);
  set_grads({p}, 1.0f);
  opt.set_lr(0.5f);  // proposal 0.5 = 4L: 0 -> -4
  opt.step();
  CHECK(opt.grid_states(0) == std::vector<GridState>(4, -4));
  opt.set_lr(0.0f);  // nothing moves
  opt.step();
  CHECK(opt.grid_states(0) == std::vector<GridState>(4, -4));
  // Adam too: with lr 0 its proposal is 0.
  Parameter q = param("w", {4}, 0.5f);
  DstOptimizer adam({q}, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_adam(AdamOptions{0.5f}), 5);
  adam.set_lr(0.0f);
  set_grads({q}, 1.0f);
  adam.step();
  CHECK(adam.grid_states(0) == std::vector<GridState>(4, 4));
  adam.set_lr(0.5f);  // ~4L per step down
  adam.step();
  for (GridState s : adam.grid_states(0)) CHECK(s <= 1);
}

TEST_CASE("DST folds Adam's decoupled weight decay into the proposal", "[dst_optimizer]") {
  // Zero gradient: Adam proposes 0; decay proposes lr * wd * w = 1 * 0.5 * 1 = 0.5 = 4L: 8 -> 4.
  AdamOptions o{1.0f};
  o.weight_decay = 0.5f;
  o.decoupled_weight_decay = true;
  Parameter p = param("w", {5}, 1.0f);
  DstOptimizer opt({p}, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_adam(o), 5);
  set_grads({p}, 0.0f);
  opt.step();
  CHECK(opt.grid_states(0) == std::vector<GridState>(5, 4));
}

TEST_CASE("DST with the same seed repeats and with another seed it differs", "[dst_optimizer]") {
  auto run = [](uint64_t seed) {
    Rng init(1), grads(2);
    std::vector<Parameter> params = {random_param("a", {300}, init),
                                     random_param("b", {50, 4}, init)};
    DstOptimizer opt(params, DstSpec{-3, 0.5f}, BaseOptimizerOptions::with_adam(AdamOptions{0.03f}),
                     seed);
    for (int step = 0; step < 30; ++step) {
      set_random_grads(params, grads);
      opt.step();
    }
    return std::make_pair(opt.grid_states(0), opt.grid_states(1));
  };
  CHECK(run(9) == run(9));
  CHECK(run(9) != run(10));
}

TEST_CASE("DST states do not depend on the thread count", "[dst_optimizer]") {
  const int previous = num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Rng init(1), grads(2);
    // Large enough that parallel_for splits it across two threads.
    std::vector<Parameter> params = {random_param("big", {100000}, init),
                                     random_param("small", {100}, init)};
    DstOptimizer opt(params, DstSpec{-4, 0.5f}, BaseOptimizerOptions::with_adam(AdamOptions{0.02f}),
                     3);
    for (int step = 0; step < 5; ++step) {
      set_random_grads(params, grads);
      opt.step();
    }
    return std::make_pair(opt.grid_states(0), opt.grid_states(1));
  };
  const auto one = run(1);
  const auto two = run(2);
  set_num_threads(previous);
  CHECK(one == two);
}

TEST_CASE("DST blob state round-trips into a fresh optimizer that continues identically",
          "[dst_optimizer]") {
  Rng init(5), grads(6);
  std::vector<Parameter> a = {random_param("conv.weight", {8, 3, 3, 3}, init),
                              random_param("fc.weight", {10, 20}, init)};
  std::vector<Parameter> b = {param("conv.weight", {8, 3, 3, 3}, 0.0f),
                              param("fc.weight", {10, 20}, 0.0f)};
  const DstSpec spec{-3, 0.5f};
  const auto base = BaseOptimizerOptions::with_adam(AdamOptions{0.05f});
  DstOptimizer first(a, spec, base, 42);
  for (int step = 0; step < 7; ++step) {
    set_random_grads(a, grads);
    first.step();
  }
  const std::vector<NamedBlob> blobs = first.blob_state();
  REQUIRE(blobs.size() == 3);
  CHECK(blobs[0].name == "dst.conv.weight");
  CHECK(blobs[0].bytes.size() == 8 * 3 * 3 * 3);  // one byte per weight
  CHECK(blobs[1].name == "dst.fc.weight");
  CHECK(blobs[1].bytes.size() == 200);
  CHECK(blobs[2].name == "dst_steps");
  CHECK(blobs[2].bytes.size() == 8);

  DstOptimizer second(b, spec, base, 42);
  second.load_blob_state(blobs);
  second.load_state(first.state());
  CHECK(second.steps() == 7);
  for (size_t k = 0; k < a.size(); ++k) {
    CHECK(second.grid_states(k) == first.grid_states(k));
    CHECK(b[k].tensor.to_vector() == a[k].tensor.to_vector());
  }
  for (int step = 0; step < 10; ++step) {
    set_random_grads(a, grads);
    for (size_t k = 0; k < a.size(); ++k)
      std::memcpy(b[k].tensor.grad(), a[k].tensor.grad(), a[k].tensor.numel() * sizeof(float));
    first.step();
    second.step();
  }
  for (size_t k = 0; k < a.size(); ++k) CHECK(second.grid_states(k) == first.grid_states(k));
  require_on_grid(second);
}

TEST_CASE("DST rejects blobs that do not fit", "[dst_optimizer]") {
  Parameter p = param("w", {4}, 0.5f);
  DstOptimizer opt({p}, DstSpec{-2, 0.5f}, BaseOptimizerOptions{}, 1);
  std::vector<NamedBlob> blobs = opt.blob_state();
  CHECK_THROWS_WITH(opt.load_blob_state({blobs[1]}), Catch::Contains("dst.w"));
  std::vector<NamedBlob> short_blob = blobs;
  short_blob[0].bytes.pop_back();
  CHECK_THROWS_WITH(opt.load_blob_state(short_blob), Catch::Contains("3 bytes"));
  std::vector<NamedBlob> off_grid = blobs;
  off_grid[0].bytes[0] = 3;  // between 2 and 4
  CHECK_THROWS_WITH(opt.load_blob_state(off_grid), Catch::Contains("not on the grid"));
  std::vector<NamedBlob> too_large = blobs;
  too_large[0].bytes[0] = 8;  // 2 on a grid whose top state is 4
  CHECK_THROWS_AS(opt.load_blob_state(too_large), Error);
  CHECK(opt.grid_states(0) == std::vector<GridState>(4, 2));  // unchanged
}

TEST_CASE("grid_fitting_scale finds the scale at which the grid represents a tensor best",
          "[dst_optimizer]") {
  const DstSpec spec{-3, 0.5f};
  Rng rng(12);
  std::vector<float> gauss(50000);
  for (float& v : gauss) v = rng.normal(0.0f, 0.05f);
  const float c = grid_fitting_scale(gauss.data(), static_cast<int64_t>(gauss.size()), spec);
  // For a Gaussian and L = 1/8 the error is least near rms 0.42 (numerically, a 1/16-octave
  // search).
  CHECK(c * 0.05f == Approx(0.42f).epsilon(0.1));
  // Relative: a multiple of the tensor gets the reciprocal multiple of the scale (the same search
  // points, up to float rounding of the sample's rms).
  std::vector<float> tenfold(gauss);
  for (float& v : tenfold) v *= 10.0f;
  CHECK(grid_fitting_scale(tenfold.data(), static_cast<int64_t>(tenfold.size()), spec) ==
        Approx(c / 10.0f));
  // Its error is below that of the nearest projection (scale 1) and of scales around it.
  auto error = [&](float scale) {
    double e = 0;
    for (float x : gauss) {
      const double back = grid_value(project_to_grid(scale * x, spec), spec) / scale;
      e += (back - x) * (back - x);
    }
    return e;
  };
  CHECK(error(c) < error(1.0f));
  CHECK(error(c) < error(c * 1.5f));
  CHECK(error(c) < error(c / 1.5f));
  // A tensor already on the grid is left as it is; an all-zero one too.
  const std::vector<float> on_grid{0.125f, -0.5f, 1.0f, 0.0f, 0.25f, -0.125f};
  CHECK(grid_fitting_scale(on_grid.data(), 6, spec) == 1.0f);
  const std::vector<float> zeros(10, 0.0f);
  CHECK(grid_fitting_scale(zeros.data(), 10, spec) == 1.0f);
}

TEST_CASE("DST's default initialization is the fitted scale", "[dst_optimizer]") {
  Rng rng(13);
  Parameter p = param("w", {64, 400}, 0.0f);
  for (int64_t i = 0; i < p.tensor.numel(); ++i) p.tensor.data()[i] = rng.uniform() * 0.1f - 0.05f;
  const std::vector<float> init = p.tensor.to_vector();
  const float c = grid_fitting_scale(init.data(), p.tensor.numel(), DstSpec{-3, 0.5f});
  DstOptimizer opt({p}, DstSpec{-3, 0.5f}, BaseOptimizerOptions{}, 1);
  CHECK(opt.init_scale(0) == c);
  int64_t mismatches = 0;
  for (size_t i = 0; i < init.size(); ++i)
    mismatches += opt.grid_states(0)[i] != project_to_grid(c * init[i], opt.spec());
  CHECK(mismatches == 0);
  require_on_grid(opt);
}
