// matmul and linear on sgemm, with their backward:
//   y = x W^T + b:  dx += dy W,  dW += dy^T x,  db += sum over rows of dy
//   C = A B:        dA += dC B^T,  dB += A^T dC
#include "layers/linear.h"

#include <cmath>

#include "core/autograd.h"
#include "core/check.h"
#include "layers/kernels/gemm.h"

namespace lowbit {

using kernels::parallel_gemm;

Tensor matmul(const Tensor& a, const Tensor& b) {
  LOWBIT_CHECK(a.rank() == 2 && b.rank() == 2 && a.size(1) == b.size(0), "matmul: shapes ",
               a.shape().str(), " and ", b.shape().str(),
               " do not fit; expected (M, K) and (K, N)");
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  Tensor c = Tensor::empty(Shape{m, n});
  parallel_gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  record(c, "matmul", {a, b}, [a, b, m, n, k](const Tensor& out) {
    const float* dc = out.grad();
    if (a.requires_grad())
      parallel_gemm(false, true, m, k, n, 1.0f, dc, n, b.data(), n, 1.0f, a.grad(), k);
    if (b.requires_grad())
      parallel_gemm(true, false, k, n, m, 1.0f, a.data(), k, dc, n, 1.0f, b.grad(), n);
  });
  return c;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  LOWBIT_CHECK(x.rank() == 2, "linear: input shape ", x.shape().str(),
               " should be (N, in_features)");
  LOWBIT_CHECK(weight.rank() == 2 && weight.size(1) == x.size(1), "linear: weight shape ",
               weight.shape().str(), " does not fit input ", x.shape().str(),
               "; expected (out_features, ", x.size(1), ")");
  const int64_t batch = x.size(0), in = x.size(1), outf = weight.size(0);
  if (bias.defined()) {
    LOWBIT_CHECK(bias.rank() == 1 && bias.size(0) == outf, "linear: bias shape ",
                 bias.shape().str(), " should be (", outf, ",)");
  }
  Tensor y = Tensor::empty(Shape{batch, outf});
  float* py = y.data();
  if (bias.defined()) {
    const float* pb = bias.data();
    for (int64_t r = 0; r < batch; ++r)
      for (int64_t j = 0; j < outf; ++j) py[r * outf + j] = pb[j];
  }
  parallel_gemm(false, true, batch, outf, in, 1.0f, x.data(), in, weight.data(), in,
                bias.defined() ? 1.0f : 0.0f, py, outf);
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  record(y, "linear", inputs, [x, weight, bias, batch, in, outf](const Tensor& out) {
    const float* dy = out.grad();
    if (x.requires_grad()) {
      bool fresh = false;  // a fresh dx is written by the GEMM (beta 0) without a zero fill
      float* dx = x.grad_for_write(fresh);
      parallel_gemm(false, false, batch, in, outf, 1.0f, dy, outf, weight.data(), in,
                    fresh ? 0.0f : 1.0f, dx, in);
    }
    if (weight.requires_grad())
      parallel_gemm(true, false, outf, in, batch, 1.0f, dy, outf, x.data(), in, 1.0f, weight.grad(),
                    in);
    if (bias.defined() && bias.requires_grad()) {
      float* db = bias.grad();
      for (int64_t r = 0; r < batch; ++r)
        for (int64_t j = 0; j < outf; ++j) db[j] += dy[r * outf + j];
    }
  });
  return y;
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng)
    : in_features_(in_features), out_features_(out_features) {
  LOWBIT_CHECK(in_features > 0 && out_features > 0,
               "Linear: sizes must be positive, got in=", in_features, " out=", out_features);
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_features));
  Tensor w = Tensor::empty(Shape{out_features, in_features});
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = rng.uniform(-bound, bound);
  weight_ = register_parameter("weight", ParamRole::kWeight, w);
  if (bias) {
    Tensor b = Tensor::empty(Shape{out_features});
    for (int64_t i = 0; i < b.numel(); ++i) b.data()[i] = rng.uniform(-bound, bound);
    bias_ = register_parameter("bias", ParamRole::kBias, b);
  }
}

Tensor Linear::forward(const Tensor& x) {
  if (!quantized()) return linear(x, weight_, bias_);  // float
  return linear(quantized_input(x), quantized_weight(), bias_);
}

}  // namespace lowbit
