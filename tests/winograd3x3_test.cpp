// Winograd 3x3 kernels against a direct double-precision convolution: forward (with and
// without bias), input gradient (adding and overwriting) and weight gradient (adding) on odd,
// tiny and banded maps with 1 and 2 threads, the float error at 512 channels and over many
// tiles, bit-identical repeats, and the conv2d entry points that dispatch here.
#include "layers/kernels/winograd3x3.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"
#include "layers/kernels/conv2d_kernels.h"
#include "tests/thread_count.h"

using namespace lowbit;
using kernels::ConvGeometry;

namespace {

// Runs body() with 1 and then with 2 threads, naming the count in any failure.
template <class Body>
void for_one_and_two_threads(Body body) {
  for (int threads : {1, 2}) {
    INFO(threads << " threads");
    set_num_threads(threads);
    body();
  }
}

ConvGeometry geometry(int64_t n, int64_t c_in, int64_t c_out, int64_t h, int64_t w) {
  return {n, c_in, h, w, c_out, 3, 3, 1, 1, 1};
}

std::vector<float> normal_vector(size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& f : v) f = rng.normal();
  return v;
}

// y[b,o,i,j] = bias[o] + sum_{c,ky,kx} x[b, c, i + ky - 1, j + kx - 1] w[o, c, ky, kx].
std::vector<double> reference_forward(const ConvGeometry& g, const std::vector<float>& x,
                                      const std::vector<float>& w, const float* bias) {
  const int64_t h = g.height, wd = g.width;
  std::vector<double> y(static_cast<size_t>(g.batch * g.out_channels * h * wd));
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t o = 0; o < g.out_channels; ++o)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j) {
          double s = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < g.in_channels; ++c)
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t iy = i + ky - 1, ix = j + kx - 1;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += static_cast<double>(
                         x[static_cast<size_t>(((b * g.in_channels + c) * h + iy) * wd + ix)]) *
                     w[static_cast<size_t>(((o * g.in_channels + c) * 3 + ky) * 3 + kx)];
              }
          y[static_cast<size_t>(((b * g.out_channels + o) * h + i) * wd + j)] = s;
        }
  return y;
}

// dx[b,c,i,j] = sum_{o,ky,kx} dy[b, o, i - ky + 1, j - kx + 1] w[o, c, ky, kx] (the adjoint).
std::vector<double> reference_backward_input(const ConvGeometry& g, const std::vector<float>& dy,
                                             const std::vector<float>& w) {
  const int64_t h = g.height, wd = g.width;
  std::vector<double> dx(static_cast<size_t>(g.batch * g.in_channels * h * wd));
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t c = 0; c < g.in_channels; ++c)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j) {
          double s = 0.0;
          for (int64_t o = 0; o < g.out_channels; ++o)
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t oy = i - ky + 1, ox = j - kx + 1;
                if (oy < 0 || oy >= h || ox < 0 || ox >= wd) continue;
                s += static_cast<double>(
                         dy[static_cast<size_t>(((b * g.out_channels + o) * h + oy) * wd + ox)]) *
                     w[static_cast<size_t>(((o * g.in_channels + c) * 3 + ky) * 3 + kx)];
              }
          dx[static_cast<size_t>(((b * g.in_channels + c) * h + i) * wd + j)] = s;
        }
  return dx;
}

// dw[o,c,ky,kx] = sum_{b,i,j} dy[b, o, i, j] x[b, c, i + ky - 1, j + kx - 1] (the weight gradient).
std::vector<double> reference_backward_weight(const ConvGeometry& g, const std::vector<float>& x,
                                              const std::vector<float>& dy) {
  const int64_t h = g.height, wd = g.width;
  std::vector<double> dw(static_cast<size_t>(g.out_channels * g.in_channels * 9));
  for (int64_t o = 0; o < g.out_channels; ++o)
    for (int64_t c = 0; c < g.in_channels; ++c)
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 3; ++kx) {
          double s = 0.0;
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t i = std::max<int64_t>(0, 1 - ky); i < std::min(h, h + 1 - ky); ++i)
              for (int64_t j = std::max<int64_t>(0, 1 - kx); j < std::min(wd, wd + 1 - kx); ++j)
                s += static_cast<double>(
                         dy[static_cast<size_t>(((b * g.out_channels + o) * h + i) * wd + j)]) *
                     x[static_cast<size_t>(((b * g.in_channels + c) * h + i + ky - 1) * wd + j +
                                           kx - 1)];
          dw[static_cast<size_t>(((o * g.in_channels + c) * 3 + ky) * 3 + kx)] = s;
        }
  return dw;
}

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double d : v) m = std::max(m, std::fabs(d));
  return m;
}

// max |got - (offset + want)| / max |want|.
double relative_error(const std::vector<float>& got, const std::vector<double>& want,
                      float offset = 0.0f) {
  REQUIRE(got.size() == want.size());
  double e = 0.0;
  for (size_t i = 0; i < got.size(); ++i) e = std::max(e, std::fabs(got[i] - (offset + want[i])));
  return e / max_abs(want);
}

// max |got - (before + want)| / max |want|: the error of a gradient added onto `before`.
double added_error(const std::vector<float>& got, const std::vector<float>& before,
                   const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  REQUIRE(before.size() == want.size());
  double e = 0.0;
  for (size_t i = 0; i < got.size(); ++i)
    e = std::max(e, std::fabs(got[i] - (before[i] + want[i])));
  return e / max_abs(want);
}

// Bound on relative_error, a fraction of the output's scale max |y|: F(4x4, 3x3) measured up
// to 3.3e-6 on these shapes (8e-6 to 1.1e-5 at 512 channels, below).
constexpr double kTolerance = 2e-5;

struct Shape {
  int64_t n, c_in, c_out, h, w;
};

// Odd, tiny and tile-multiple maps; batch 1 and 3; channels 1, 3, 16, 64. The last three run
// the 16-image vector lanes with a tail image (17, and 35 on two threads), and split the maps
// into bands of tile rows (37 wide: one tile row per chunk; 6 wide: bands of 4 rows, then 3).
const Shape kShapes[] = {{1, 1, 1, 1, 1},   {3, 3, 16, 5, 7}, {1, 16, 3, 2, 3},
                         {3, 64, 16, 3, 3}, {1, 3, 64, 1, 1}, {3, 16, 64, 7, 5},
                         {3, 16, 16, 8, 8}, {1, 1, 3, 13, 2}, {17, 4, 6, 21, 37},
                         {16, 2, 2, 27, 6}, {35, 3, 5, 9, 10}};

}  // namespace

TEST_CASE("winograd3x3 forward matches the direct convolution with and without bias",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  Rng rng(11);
  for (const Shape& s : kShapes) {
    const ConvGeometry g = geometry(s.n, s.c_in, s.c_out, s.h, s.w);
    INFO("shape n=" << s.n << " c=" << s.c_in << "->" << s.c_out << " " << s.h << "x" << s.w);
    const auto x = normal_vector(static_cast<size_t>(s.n * s.c_in * s.h * s.w), rng);
    const auto w = normal_vector(static_cast<size_t>(s.c_out * s.c_in * 9), rng);
    const auto bias = normal_vector(static_cast<size_t>(s.c_out), rng);
    const auto plain = reference_forward(g, x, w, nullptr),
               biased = reference_forward(g, x, w, bias.data());
    for_one_and_two_threads([&] {
      std::vector<float> y(plain.size(), std::nanf(""));  // every element must be written
      kernels::winograd3x3_forward(g, x.data(), w.data(), nullptr, y.data());
      CHECK(relative_error(y, plain) < kTolerance);
      kernels::winograd3x3_forward(g, x.data(), w.data(), bias.data(), y.data());
      CHECK(relative_error(y, biased) < kTolerance);
    });
  }
}

TEST_CASE("winograd3x3 input gradient matches the direct adjoint, adding or overwriting",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  Rng rng(12);
  for (const Shape& s : kShapes) {
    const ConvGeometry g = geometry(s.n, s.c_in, s.c_out, s.h, s.w);
    INFO("shape n=" << s.n << " c=" << s.c_in << "->" << s.c_out << " " << s.h << "x" << s.w);
    const auto dy = normal_vector(static_cast<size_t>(s.n * s.c_out * s.h * s.w), rng);
    const auto w = normal_vector(static_cast<size_t>(s.c_out * s.c_in * 9), rng);
    const auto want = reference_backward_input(g, dy, w);
    for_one_and_two_threads([&] {
      std::vector<float> dx(want.size(), 2.5f);
      kernels::winograd3x3_backward_input(g, dy.data(), w.data(), dx.data(), false);
      CHECK(relative_error(dx, want, 2.5f) < kTolerance);
      std::vector<float> fresh(want.size(), std::nanf(""));  // every element must be written
      kernels::winograd3x3_backward_input(g, dy.data(), w.data(), fresh.data(), true);
      CHECK(relative_error(fresh, want) < kTolerance);
    });
  }
}

// Training needs the error below 1e-4 of the output's largest value on N(0, 1) data with 512
// input channels (sums of 4608 products). Measured: 8.0e-6 forward, 1.1e-5 input gradient
// (F(4x4, 3x3)'s larger transform entries; im2col's error is about 3e-7). The second bound
// keeps it within 2x of that.
TEST_CASE("winograd3x3 float error at 512 channels stays below 1e-4 of the output scale",
          "[winograd3x3][winograd]") {
  Rng rng(13);
  const ConvGeometry fwd = geometry(2, 512, 32, 8, 8);
  const auto x = normal_vector(static_cast<size_t>(2 * 512 * 64), rng);
  const auto w = normal_vector(static_cast<size_t>(32 * 512 * 9), rng);
  std::vector<float> y(static_cast<size_t>(2 * 32 * 64));
  kernels::winograd3x3_forward(fwd, x.data(), w.data(), nullptr, y.data());
  const double forward_error = relative_error(y, reference_forward(fwd, x, w, nullptr));
  // The input gradient sums over the 512 output channels: dy is (2, 512, 8, 8), dx (2, 32, 8, 8).
  const ConvGeometry bwd = geometry(2, 32, 512, 8, 8);
  std::vector<float> dx(static_cast<size_t>(2 * 32 * 64));
  kernels::winograd3x3_backward_input(bwd, x.data(), w.data(), dx.data(), true);
  const double backward_error = relative_error(dx, reference_backward_input(bwd, x, w));
  INFO("relative error at 512 channels: forward " << forward_error << ", input gradient "
                                                  << backward_error);
  CHECK(forward_error < 1e-4);
  CHECK(backward_error < 1e-4);
  CHECK(forward_error < 1.6e-5);
  CHECK(backward_error < 2.2e-5);
}

TEST_CASE("winograd3x3 repeats bit for bit for a thread count", "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  Rng rng(14);
  const ConvGeometry g = geometry(37, 16, 24, 9, 10);
  const auto x = normal_vector(static_cast<size_t>(37 * 16 * 90), rng);
  const auto w = normal_vector(static_cast<size_t>(24 * 16 * 9), rng);
  const auto bias = normal_vector(24, rng);
  const auto dy = normal_vector(static_cast<size_t>(37 * 24 * 90), rng);
  for_one_and_two_threads([&] {
    std::vector<float> y1(dy.size()), y2(dy.size()), dx1(x.size(), 1.0f), dx2(x.size(), 1.0f);
    kernels::winograd3x3_forward(g, x.data(), w.data(), bias.data(), y1.data());
    kernels::winograd3x3_forward(g, x.data(), w.data(), bias.data(), y2.data());
    kernels::winograd3x3_backward_input(g, dy.data(), w.data(), dx1.data(), false);
    kernels::winograd3x3_backward_input(g, dy.data(), w.data(), dx2.data(), false);
    CHECK(y1 == y2);
    CHECK(dx1 == dx2);
  });
}

TEST_CASE("winograd3x3 rejects geometries it does not compute", "[winograd3x3][winograd]") {
  ConvGeometry g = geometry(1, 2, 2, 4, 4);
  g.stride = 2;
  std::vector<float> buf(64);
  CHECK_THROWS_WITH(kernels::winograd3x3_forward(g, buf.data(), buf.data(), nullptr, buf.data()),
                    Catch::Contains("stride 2"));
  const ConvGeometry empty = geometry(1, 2, 2, 0, 4);
  CHECK_THROWS_WITH(
      kernels::winograd3x3_backward_input(empty, buf.data(), buf.data(), buf.data(), true),
      Catch::Contains("map 0x4"));
  CHECK_THROWS_WITH(kernels::winograd3x3_backward_weight(g, buf.data(), buf.data(), buf.data()),
                    Catch::Contains("stride 2"));
  CHECK_THROWS_WITH(kernels::winograd3x3_backward_weight(empty, buf.data(), buf.data(), buf.data()),
                    Catch::Contains("map 0x4"));
}

TEST_CASE("conv2d_forward and conv2d_backward_input take the Winograd path where it pays",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  set_num_threads(2);
  Rng rng(15);
  // 16 images, 8 per thread, of 3 x 2 tiles: 48 tiles per thread.
  const ConvGeometry g = geometry(16, 8, 12, 9, 7);
  REQUIRE(kernels::conv2d_uses_winograd(g));
  CHECK_FALSE(kernels::conv2d_uses_winograd(geometry(16, 3, 12, 9, 7)));  // 3 channels
  CHECK_FALSE(kernels::conv2d_uses_winograd(geometry(16, 8, 12, 2, 7)));  // 2 rows
  CHECK_FALSE(kernels::conv2d_uses_winograd(geometry(8, 8, 12, 9, 7)));   // 4 images per thread
  CHECK_FALSE(kernels::conv2d_uses_winograd(geometry(32, 8, 12, 4, 4)));  // 16 tiles per thread
  ConvGeometry strided = g;
  strided.stride = 2;
  CHECK_FALSE(kernels::conv2d_uses_winograd(strided));

  const auto x = normal_vector(static_cast<size_t>(16 * 8 * 63), rng);
  const auto w = normal_vector(static_cast<size_t>(12 * 8 * 9), rng);
  const auto bias = normal_vector(12, rng);
  const auto dy = normal_vector(static_cast<size_t>(16 * 12 * 63), rng);
  std::vector<float> y(dy.size()), wy(dy.size());
  kernels::conv2d_forward(g, x.data(), w.data(), bias.data(), y.data());
  kernels::winograd3x3_forward(g, x.data(), w.data(), bias.data(), wy.data());
  CHECK(y == wy);  // the Winograd path itself (im2col rounds differently)
  CHECK(relative_error(y, reference_forward(g, x, w, bias.data())) < kTolerance);

  const auto want = reference_backward_input(g, dy, w);
  std::vector<float> dx(x.size(), std::nanf("")), added(x.size(), -1.0f), wdx(x.size());
  kernels::conv2d_backward_input(g, dy.data(), w.data(), dx.data(), true);
  kernels::conv2d_backward_input(g, dy.data(), w.data(), added.data());
  kernels::winograd3x3_backward_input(g, dy.data(), w.data(), wdx.data(), true);
  CHECK(dx == wdx);
  CHECK(relative_error(dx, want) < kTolerance);
  CHECK(relative_error(added, want, -1.0f) < kTolerance);
}

TEST_CASE("winograd3x3 weight gradient adds the direct weight gradient onto dweight",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  Rng rng(16);
  for (const Shape& s : kShapes) {
    const ConvGeometry g = geometry(s.n, s.c_in, s.c_out, s.h, s.w);
    INFO("shape n=" << s.n << " c=" << s.c_in << "->" << s.c_out << " " << s.h << "x" << s.w);
    const auto x = normal_vector(static_cast<size_t>(s.n * s.c_in * s.h * s.w), rng);
    const auto dy = normal_vector(static_cast<size_t>(s.n * s.c_out * s.h * s.w), rng);
    const auto before = normal_vector(static_cast<size_t>(s.c_out * s.c_in * 9), rng);
    const auto want = reference_backward_weight(g, x, dy);
    for_one_and_two_threads([&] {
      std::vector<float> dw = before;
      kernels::winograd3x3_backward_weight(g, x.data(), dy.data(), dw.data());
      CHECK(added_error(dw, before, want) < kTolerance);
    });
  }
}

// The weight gradient sums over tiles rather than channels: 512 to 4096 tiles here. Its error
// relative to max |dW| measured 2.9e-6 to 5.2e-6 (im2col 2.4e-7 to 3.7e-7), of the order of the
// forward's; at batch 128 2.8e-6 to 5.5e-6.
TEST_CASE("winograd3x3 weight gradient float error over many tiles stays near the forward's",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  set_num_threads(2);
  Rng rng(17);
  const Shape shapes[] = {{64, 24, 20, 32, 32}, {256, 16, 40, 16, 16}, {128, 8, 8, 8, 8}};
  for (const Shape& s : shapes) {
    const ConvGeometry g = geometry(s.n, s.c_in, s.c_out, s.h, s.w);
    const auto x = normal_vector(static_cast<size_t>(s.n * s.c_in * s.h * s.w), rng);
    const auto dy = normal_vector(static_cast<size_t>(s.n * s.c_out * s.h * s.w), rng);
    const auto want = reference_backward_weight(g, x, dy);
    std::vector<float> dw(want.size(), 0.0f), im2col(want.size(), 0.0f);
    kernels::winograd3x3_backward_weight(g, x.data(), dy.data(), dw.data());
    kernels::conv2d_backward_weight_im2col(g, x.data(), dy.data(), im2col.data(), nullptr);
    const double error = relative_error(dw, want), im2col_error = relative_error(im2col, want);
    INFO("shape n=" << s.n << " c=" << s.c_in << "->" << s.c_out << " " << s.h << "x" << s.w
                    << ": relative error " << error << " (im2col " << im2col_error << ")");
    CHECK(error < 1e-4);
    CHECK(error < kTolerance);
  }
}

TEST_CASE("winograd3x3 weight gradient repeats bit for bit for a thread count",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  Rng rng(18);
  const ConvGeometry g = geometry(37, 16, 24, 9, 10);
  const auto x = normal_vector(static_cast<size_t>(37 * 16 * 90), rng);
  const auto dy = normal_vector(static_cast<size_t>(37 * 24 * 90), rng);
  for_one_and_two_threads([&] {
    std::vector<float> dw1(24 * 16 * 9, 0.5f), dw2 = dw1;
    kernels::winograd3x3_backward_weight(g, x.data(), dy.data(), dw1.data());
    kernels::winograd3x3_backward_weight(g, x.data(), dy.data(), dw2.data());
    CHECK(dw1 == dw2);
  });
}

TEST_CASE("conv2d_backward_weight takes the Winograd path for dweight where it pays",
          "[winograd3x3][winograd]") {
  const ThreadCountRestorer restore_threads;
  set_num_threads(2);
  Rng rng(19);
  // 16 images, 8 per thread, of 3 x 2 tiles, with no more output than input channels.
  const ConvGeometry g = geometry(16, 12, 8, 9, 7);
  REQUIRE(kernels::conv2d_backward_weight_uses_winograd(g));
  using kernels::conv2d_backward_weight_uses_winograd;
  CHECK(
      conv2d_backward_weight_uses_winograd(geometry(32, 3, 64, 9, 7)));  // 16 images: any channels
  CHECK_FALSE(
      conv2d_backward_weight_uses_winograd(geometry(30, 3, 64, 9, 7)));  // 15 images, 3 inputs
  CHECK_FALSE(
      conv2d_backward_weight_uses_winograd(geometry(16, 8, 12, 9, 7)));  // more outputs than inputs
  CHECK(conv2d_backward_weight_uses_winograd(geometry(4, 12, 8, 12, 12)));  // 2 images, 18 tiles
  CHECK_FALSE(conv2d_backward_weight_uses_winograd(geometry(2, 12, 8, 12, 12)));  // 1 image
  CHECK(conv2d_backward_weight_uses_winograd(geometry(32, 12, 8, 4, 4)));  // 16 tiles per thread
  CHECK_FALSE(
      conv2d_backward_weight_uses_winograd(geometry(30, 12, 8, 4, 4)));  // 15 tiles per thread
  CHECK_FALSE(conv2d_backward_weight_uses_winograd(geometry(64, 12, 8, 3, 8)));  // 3 rows
  ConvGeometry strided = g;
  strided.stride = 2;
  CHECK_FALSE(conv2d_backward_weight_uses_winograd(strided));

  const auto x = normal_vector(static_cast<size_t>(16 * 12 * 63), rng);
  const auto dy = normal_vector(static_cast<size_t>(16 * 8 * 63), rng);
  const auto before = normal_vector(8 * 12 * 9, rng), bias_before = normal_vector(8, rng);
  std::vector<float> dw = before, db = bias_before, wdw = before, idw = before, idb = bias_before;
  kernels::conv2d_backward_weight(g, x.data(), dy.data(), dw.data(), db.data());
  kernels::winograd3x3_backward_weight(g, x.data(), dy.data(), wdw.data());
  kernels::conv2d_backward_weight_im2col(g, x.data(), dy.data(), idw.data(), idb.data());
  CHECK(dw == wdw);  // the Winograd path itself
  CHECK(db == idb);  // the bias sum stays im2col's
  std::vector<double> im2col(idw.size());
  for (size_t i = 0; i < idw.size(); ++i) im2col[i] = static_cast<double>(idw[i]) - before[i];
  CHECK(added_error(dw, before, im2col) < kTolerance);
  CHECK(added_error(dw, before, reference_backward_weight(g, x, dy)) < kTolerance);

  // A geometry the rule leaves to im2col gives im2col's result exactly.
  const ConvGeometry small = geometry(2, 3, 4, 5, 5);
  REQUIRE_FALSE(kernels::conv2d_backward_weight_uses_winograd(small));
  const auto sx = normal_vector(2 * 3 * 25, rng), sdy = normal_vector(2 * 4 * 25, rng);
  std::vector<float> sdw(4 * 3 * 9, 1.0f), sidw = sdw;
  kernels::conv2d_backward_weight(small, sx.data(), sdy.data(), sdw.data(), nullptr);
  kernels::conv2d_backward_weight_im2col(small, sx.data(), sdy.data(), sidw.data(), nullptr);
  CHECK(sdw == sidw);
}
