// conv2d against a direct double-precision reference for forward, dx, dweight and dbias,
// across kernel sizes, strides, paddings, groups (depthwise included) and batch sizes;
// the same results (to rounding) for 1 and 2 threads, bit-identical repeats; errors for bad
// arguments; exact sums in evaluation where Conv2dOptions::exact_sums asks for them.
#include "layers/conv2d.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"

using namespace lowbit;

namespace {

struct Case {
  int64_t n, c_in, h, w, c_out, kh, kw, stride, padding, groups;
  bool bias;
};

struct Reference {
  std::vector<double> y, dx, dw, db;
};

// Direct loops: y[b,o,i,j] = bias[o] + sum_{c,ky,kx} x[b, g*cg + c, i*s - p + ky, j*s - p + kx]
// w[o,c,ky,kx].
Reference reference(const Case& k, const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& bias, const std::vector<float>& dy) {
  const int64_t ho = (k.h + 2 * k.padding - k.kh) / k.stride + 1,
                wo = (k.w + 2 * k.padding - k.kw) / k.stride + 1;
  const int64_t cg = k.c_in / k.groups, og = k.c_out / k.groups;
  Reference r{std::vector<double>(static_cast<size_t>(k.n * k.c_out * ho * wo)),
              std::vector<double>(x.size()), std::vector<double>(w.size()),
              std::vector<double>(static_cast<size_t>(k.c_out))};
  for (int64_t b = 0; b < k.n; ++b)
    for (int64_t o = 0; o < k.c_out; ++o)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          const size_t yi = static_cast<size_t>(((b * k.c_out + o) * ho + i) * wo + j);
          double s = k.bias ? bias[static_cast<size_t>(o)] : 0.0;
          const double d = dy[yi];
          r.db[static_cast<size_t>(o)] += d;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < k.kh; ++ky)
              for (int64_t kx = 0; kx < k.kw; ++kx) {
                const int64_t iy = i * k.stride - k.padding + ky,
                              ix = j * k.stride - k.padding + kx;
                if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                const size_t xi =
                    static_cast<size_t>(((b * k.c_in + (o / og) * cg + c) * k.h + iy) * k.w + ix);
                const size_t wi = static_cast<size_t>(((o * cg + c) * k.kh + ky) * k.kw + kx);
                s += static_cast<double>(x[xi]) * w[wi];
                r.dx[xi] += d * w[wi];
                r.dw[wi] += d * x[xi];
              }
          r.y[yi] = s;
        }
  return r;
}

std::vector<float> random_vector(size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& f : v) f = rng.uniform(-1.0f, 1.0f);
  return v;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(what << " element " << i);
    REQUIRE(got[i] == Approx(want[i]).margin(1e-4).epsilon(1e-4));
  }
}

struct Result {
  std::vector<float> y, dx, dw, db;
};

Result run(const Case& k, const std::vector<float>& x, const std::vector<float>& w,
           const std::vector<float>& bias, const std::vector<float>& dy) {
  Tensor tx = Tensor::from_vector({k.n, k.c_in, k.h, k.w}, x);
  Tensor tw = Tensor::from_vector({k.c_out, k.c_in / k.groups, k.kh, k.kw}, w);
  tx.set_requires_grad(true);
  tw.set_requires_grad(true);
  Tensor tb;
  if (k.bias) {
    tb = Tensor::from_vector({k.c_out}, bias);
    tb.set_requires_grad(true);
  }
  Tensor y = conv2d(tx, tw, tb, {k.stride, k.padding, k.groups});
  backward(y, Tensor::from_vector(y.shape(), dy));
  return {y.to_vector(), tx.grad_tensor().to_vector(), tw.grad_tensor().to_vector(),
          k.bias ? tb.grad_tensor().to_vector() : std::vector<float>{}};
}

}  // namespace

TEST_CASE("conv2d matches the direct reference in every configuration", "[conv2d]") {
  const std::vector<Case> cases = {
      {1, 1, 4, 4, 1, 1, 1, 1, 0, 1, false},
      {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, true},
      {5, 4, 9, 9, 6, 3, 3, 2, 1, 1, true},
      {2, 4, 13, 11, 8, 5, 5, 1, 2, 1, false},
      {3, 4, 8, 8, 4, 3, 3, 3, 0, 2, true},
      {2, 4, 6, 5, 4, 3, 1, 1, 1, 2, true},
      {5, 6, 7, 7, 6, 3, 3, 1, 1, 6, true},
      {5, 6, 8, 9, 6, 3, 3, 2, 1, 6, false},
      {5, 8, 4, 4, 16, 3, 3, 1, 1, 1, true},
      {4, 16, 4, 4, 32, 1, 1, 2, 0, 1, false},
      {7, 8, 2, 2, 8, 3, 3, 1, 1, 1, false},
      {3, 6, 5, 5, 6, 5, 5, 1, 2, 6, true},
      {2, 3, 10, 10, 3, 1, 1, 1, 0, 1, true},
      // stride 2 with output rows >= 8 wide (the constant-stride im2col/col2im rows)
      {3, 4, 18, 17, 6, 3, 3, 2, 1, 1, true},
      {2, 8, 16, 16, 8, 1, 1, 2, 0, 1, false},
  };
  const int saved = num_threads();
  Rng rng(4);
  for (const Case& k : cases) {
    const int64_t ho = (k.h + 2 * k.padding - k.kh) / k.stride + 1,
                  wo = (k.w + 2 * k.padding - k.kw) / k.stride + 1;
    const auto x = random_vector(static_cast<size_t>(k.n * k.c_in * k.h * k.w), rng);
    const auto w =
        random_vector(static_cast<size_t>(k.c_out * k.c_in / k.groups * k.kh * k.kw), rng);
    const auto bias = random_vector(static_cast<size_t>(k.c_out), rng);
    const auto dy = random_vector(static_cast<size_t>(k.n * k.c_out * ho * wo), rng);
    const Reference ref = reference(k, x, w, bias, dy);
    INFO("case n=" << k.n << " c=" << k.c_in << "->" << k.c_out << " " << k.h << "x" << k.w
                   << " k=" << k.kh << "x" << k.kw << " s=" << k.stride << " p=" << k.padding
                   << " g=" << k.groups);
    set_num_threads(1);
    const Result one = run(k, x, w, bias, dy);
    set_num_threads(2);
    const Result two = run(k, x, w, bias, dy);
    check_close(one.y, ref.y, "y");
    check_close(one.dx, ref.dx, "dx");
    check_close(one.dw, ref.dw, "dweight");
    if (k.bias) check_close(one.db, ref.db, "dbias");
    check_close(two.y, ref.y, "y (2 threads)");
    check_close(two.dw, ref.dw, "dweight (2 threads)");
    CHECK(run(k, x, w, bias, dy).dw == two.dw);  // repeatable for a given thread count
  }
  set_num_threads(saved);
}

TEST_CASE("conv2d rejects bad arguments with the shapes in the message", "[conv2d]") {
  Tensor x = Tensor::zeros({1, 4, 5, 5});
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({4, 5, 5}), Tensor::zeros({2, 4, 3, 3})),
                    Catch::Contains("(4, 5, 5)"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({2, 3, 3, 3})), Catch::Contains("(2, 3, 3, 3)"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({3, 2, 3, 3}), Tensor(), {1, 0, 2}),
                    Catch::Contains("groups 2"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({2, 4, 7, 7})), Catch::Contains("larger"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({2, 4, 3, 3}), Tensor(), {0, 0, 1}),
                    Catch::Contains("stride 0"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({2, 4, 3, 3}), Tensor::zeros({3})),
                    Catch::Contains("bias"));
  CHECK_THROWS_AS(Conv2d(4, 6, 3, {1, 1, 4}), Error);
}

TEST_CASE("Conv2d registers its parameters with PyTorch's default bound", "[conv2d]") {
  Rng rng(1);
  Conv2d conv(4, 8, 3, {1, 1, 1}, true, rng);
  const auto params = conv.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].tensor.shape() == Shape({8, 4, 3, 3}));
  const float bound = 1.0f / std::sqrt(36.0f);
  for (float v : conv.weight().to_vector()) CHECK(std::fabs(v) <= bound);
  CHECK(conv(Tensor::zeros({2, 4, 6, 6})).shape() == Shape({2, 8, 6, 6}));
}

TEST_CASE("exact_sums: in evaluation a power-of-two convolution sums exactly, not by Winograd",
          "[conv2d]") {
  // A 3x3 stride-1 layer with 16 channels and 16 images, where conv2d_forward takes Winograd.
  // Inputs on the activation levels {0, ±1/8, ±1/4} and weights on the grid {0, ±2^-3 .. ±1}:
  // every product is a multiple of 2^-6 below 1/4, every sum of 144 of them is exact in float.
  Rng rng(3);
  const int64_t n = 16, c = 16, side = 8;
  Tensor x = Tensor::empty({n, c, side, side}), w = Tensor::empty({c, c, 3, 3});
  const float levels[] = {0.0f, 0.125f, -0.125f, 0.25f, -0.25f};
  const float grid[] = {0.0f, 0.125f, -0.125f, 0.25f, -0.25f, 0.5f, -0.5f, 1.0f, -1.0f};
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = levels[rng.below(5)];
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = grid[rng.below(9)];
  Conv2dOptions o;
  o.padding = 1;
  const Case k{n, c, side, side, c, 3, 3, 1, 1, 1, false};
  const std::vector<float> xs = x.to_vector(), ws = w.to_vector();
  const Reference want = reference(k, xs, ws, {}, std::vector<float>(xs.size(), 0.0f));
  NoGradGuard no_grad;
  const std::vector<float> winograd = conv2d(x, w, Tensor(), o).to_vector();
  o.exact_sums = true;
  const std::vector<float> exact = conv2d(x, w, Tensor(), o).to_vector();
  REQUIRE(exact.size() == want.y.size());
  int64_t rounded = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    CHECK(static_cast<double>(exact[i]) == want.y[i]);
    rounded += static_cast<double>(winograd[i]) != want.y[i];
  }
  // The check can fail: Winograd's transforms do round some of these sums.
  CHECK(rounded > 0);
}

TEST_CASE("wide_sums: in evaluation a float convolution sums the runtime's integer codes",
          "[conv2d]") {
  // Arbitrary floats, 2 groups, stride 2, padding 1, with bias: the wide-product values are the
  // double-precision reference's within float32's rounding (2^-22 inputs and 24-bit weights are
  // off by about 2^-24 of the values), and the same in any batch split, as integers are.
  Rng rng(5);
  const Case k{3, 4, 9, 7, 6, 3, 3, 2, 1, 2, true};
  Tensor x = Tensor::empty({k.n, k.c_in, k.h, k.w}), w = Tensor::empty({k.c_out, 2, 3, 3});
  Tensor b = Tensor::empty({k.c_out});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.uniform(-2.5f, 2.5f);
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = rng.uniform(-0.7f, 0.7f);
  for (int64_t i = 0; i < b.numel(); ++i) b.data()[i] = rng.uniform(-0.1f, 0.1f);
  const std::vector<float> xs = x.to_vector(), ws = w.to_vector(), bs = b.to_vector();
  Conv2dOptions o;
  o.stride = 2;
  o.padding = 1;
  o.groups = 2;
  o.wide_sums = true;
  const Reference want = reference(k, xs, ws, bs, std::vector<float>(xs.size(), 0.0f));
  NoGradGuard no_grad;
  const std::vector<float> wide = conv2d(x, w, b, o).to_vector();
  REQUIRE(wide.size() == want.y.size());
  for (size_t i = 0; i < wide.size(); ++i)
    CHECK(std::fabs(wide[i] - want.y[i]) <= 4e-7 * (1 + std::fabs(want.y[i])));
  // One image alone gives its rows of the batch's output bit for bit.
  Tensor second = Tensor::empty({1, k.c_in, k.h, k.w});
  const int64_t image_size = k.c_in * k.h * k.w;
  for (int64_t i = 0; i < image_size; ++i) second.data()[i] = xs[size_t(image_size + i)];
  const Tensor alone = conv2d(second, w, b, o);
  const size_t per_image = wide.size() / static_cast<size_t>(k.n);
  for (size_t i = 0; i < per_image; ++i) CHECK(alone.data()[i] == wide[per_image + i]);
  // A value on the codes' grid: x = 3 2^-22, one weight 1 (code 2^23 - 1 at step 1/(2^23 - 1)):
  // y = float(3 (2^23 - 1) / (2^23 - 1) 2^-22) = 3 2^-22 exactly.
  Tensor one_x = Tensor::zeros({1, 1, 1, 1}), one_w = Tensor::full({1, 1, 1, 1}, 1.0f);
  one_x.data()[0] = std::ldexp(3.0f, -22);
  Conv2dOptions plain;
  plain.wide_sums = true;
  CHECK(conv2d(one_x, one_w, Tensor(), plain).data()[0] == std::ldexp(3.0f, -22));
  // Below 2^-23 an input rounds to code 0, where a float GEMM keeps it: the codes are what is
  // summed.
  one_x.data()[0] = std::ldexp(1.0f, -24);
  CHECK(conv2d(one_x, one_w, Tensor(), plain).data()[0] == 0.0f);
}

TEST_CASE("wide_sums: training keeps the float convolution", "[conv2d]") {
  Tensor x = Tensor::zeros({1, 1, 1, 1}), w = Tensor::full({1, 1, 1, 1}, 1.0f);
  x.data()[0] = std::ldexp(1.0f, -24);
  w.set_requires_grad(true);
  Conv2dOptions o;
  o.wide_sums = true;
  const Tensor y = conv2d(x, w, Tensor(), o);  // gradient recorded: the float kernels
  CHECK(y.data()[0] == std::ldexp(1.0f, -24));
}
