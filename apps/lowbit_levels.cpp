// lowbit-levels: look inside the quantizers: their levels, backward slopes and expected errors.
// (Called lowbit-quantizer before; that name, too close to lowbit-quantize, still runs this program
// for one release, with a notice: it is this file built with LOWBIT_OLD_NAME.)
//   error-table   the expected squared error of the power-of-two activation quantizer
//                 for a standard normal input (Table 1 of the power-of-two paper), CSV
//   best-q2       the q2 that minimizes that error for N bits
//   curve         a quantizer's forward levels and the slope its backward uses over a
//                 range of x, as CSV and an SVG plot: the forward of the quantizer, the
//                 backward of a proxy (the straight-through estimator made visible)
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "apps/common/cli_main.h"
#include "apps/common/svg_plot.h"
#include "core/autograd.h"
#include "core/check.h"
#include "layers/activations.h"
#include "layers/quant/pow2_activation.h"
#include "layers/reduce.h"

using namespace lowbit;

namespace {

// Every quantizer (and float activation, for comparison) the curve command can draw:
// a function from x to the layer's output on a tensor, so the slope comes from the
// layer's real backward, not from a copy of its formula.
struct CurveEntry {
  std::string name, description;
  std::function<Tensor(const Tensor&, int bits, float q2, Pow2Backward backward)> apply;
};

const std::vector<CurveEntry>& curve_table() {
  static const std::vector<CurveEntry> table = {
      {"pow2", "power-of-two activation, signed (eq. 2-7)",
       [](const Tensor& x, int bits, float q2, Pow2Backward b) {
         return pow2_activation(x, {bits, q2, true, b});
       }},
      {"relu-pow2", "power-of-two activation after ReLU (unsigned)",
       [](const Tensor& x, int bits, float q2, Pow2Backward b) {
         return pow2_activation(x, {bits, q2, false, b});
       }},
      {"relu", "ReLU (float)", [](const Tensor& x, int, float, Pow2Backward) { return relu(x); }},
      {"relu6", "ReLU6 (float)",
       [](const Tensor& x, int, float, Pow2Backward) { return relu6(x); }},
      {"hardtanh", "hardtanh (float; the clipped STE's proxy)",
       [](const Tensor& x, int, float, Pow2Backward) { return hardtanh(x); }},
  };
  return table;
}

const CurveEntry& find_curve(const std::string& name) {
  std::string known;
  for (const CurveEntry& e : curve_table()) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw Error(concat("--quantizer: unknown quantizer '", name, "'; known: ", known));
}

int error_table() {
  std::printf("bits,q2,error\n");
  for (int bits = 3; bits <= 8; ++bits) {
    for (float q2 : {0.0625f, 0.125f, 0.25f, 0.5f, 1.0f}) {
      std::printf("%d,%g,%.4f\n", bits, q2, pow2_activation_expected_error({bits, q2, true}));
    }
  }
  return 0;
}

int best_q2(int bits) {
  const double q2 = pow2_activation_best_q2(bits);
  std::printf("bits,q2,error\n%d,%.6f,%.6f\n", bits, q2,
              pow2_activation_expected_error({bits, static_cast<float>(q2), true}));
  return 0;
}

int curve(const std::string& name, int bits, float q2, Pow2Backward proxy, float x_min, float x_max,
          int points, const std::string& out) {
  LOWBIT_CHECK(x_max > x_min, "--max ", x_max, " must be larger than --min ", x_min);
  const CurveEntry& entry = find_curve(name);
  Tensor x = Tensor::empty({points});
  for (int i = 0; i < points; ++i)
    x.data()[i] = x_min + (x_max - x_min) * static_cast<float>(i) / static_cast<float>(points - 1);
  x.set_requires_grad(true);
  Tensor y = entry.apply(x, bits, q2, proxy);
  backward(sum(y));  // dL/dy = 1, so x.grad() is the slope the backward uses
  const std::vector<float> values = y.to_vector(), slopes = x.grad_tensor().to_vector();

  std::string csv = "x,value,slope\n";
  PlotSeries value{"forward value", {}, {}, false}, slope{"backward slope", {}, {}, false};
  char line[96];
  for (int i = 0; i < points; ++i) {
    std::snprintf(line, sizeof line, "%.6g,%.6g,%.6g\n", x.data()[i],
                  values[static_cast<size_t>(i)], slopes[static_cast<size_t>(i)]);
    csv += line;
    value.x.push_back(x.data()[i]), value.y.push_back(values[static_cast<size_t>(i)]);
    slope.x.push_back(x.data()[i]), slope.y.push_back(slopes[static_cast<size_t>(i)]);
  }
  if (out.empty()) {
    std::fputs(csv.c_str(), stdout);
    return 0;
  }
  const bool quantizer = name == "pow2" || name == "relu-pow2";
  const std::string title =
      entry.description + " (bits " + std::to_string(bits) + ", q2 " + std::to_string(q2) +
      (quantizer ? std::string(", backward ") + pow2_backward_name(proxy) : std::string()) + ")";
  const std::string svg = svg_line_chart({value, slope}, {title, "x", "value / slope", 720, 420});
  for (const auto& [path, text] : {std::pair{out + ".csv", csv}, std::pair{out + ".svg", svg}}) {
    std::ofstream f(path);
    LOWBIT_CHECK(f.good(), path, ": cannot open for writing");
    f << text;
    LOWBIT_CHECK(f.good(), path, ": write failed");
  }
  std::printf("wrote %s.csv and %s.svg (%d points of %s)\n", out.c_str(), out.c_str(), points,
              name.c_str());
  return 0;
}

}  // namespace

#ifdef LOWBIT_OLD_NAME
constexpr const char* kProgram = LOWBIT_OLD_NAME;
#else
constexpr const char* kProgram = "lowbit-levels";
#endif

int main(int argc, char** argv) {
#ifdef LOWBIT_OLD_NAME
  std::fprintf(stderr,
               "%s is now called lowbit-levels; the old name goes away in the next release\n",
               kProgram);
#endif
  CLI::App app{std::string(kProgram) + ": quantizer levels, backward slopes and expected errors"};
  app.require_subcommand(1);
  app.add_subcommand("error-table",
                     "Table 1: expected error of the power-of-two activation (CSV: bits,q2,error)");
  auto* best = app.add_subcommand("best-q2", "the q2 minimizing the expected error for N bits");
  int bits = 3;
  best->add_option("--bits", bits, "activation bits")->required()->check(CLI::Range(2, 16));
  auto* curve_cmd =
      app.add_subcommand("curve", "forward levels and backward slope over a range of x (CSV, SVG)");
  std::string name = "pow2", out, backward_name = "eq7";
  float q2 = 0.125f, x_min = -2.0f, x_max = 2.0f;
  int points = 801;
  curve_cmd->add_option("--quantizer", name, "pow2, relu-pow2, relu, relu6, hardtanh");
  curve_cmd->add_option("--bits", bits, "activation bits")->check(CLI::Range(2, 16));
  curve_cmd->add_option("--q2", q2, "smallest non-zero level")->check(CLI::PositiveNumber);
  curve_cmd
      ->add_option("--backward", backward_name,
                   "pow2 quantizers: eq7 (the paper's) or clipped (the clipped STE)")
      ->check(CLI::IsMember({"eq7", "clipped"}));
  curve_cmd->add_option("--min", x_min, "first x");
  curve_cmd->add_option("--max", x_max, "last x");
  curve_cmd->add_option("--points", points, "number of x values")->check(CLI::Range(2, 1000000));
  curve_cmd->add_option("--out", out, "write OUT.csv and OUT.svg instead of CSV on stdout");
  return run_cli(app, argc, argv, kProgram, [&]() -> int {
    if (app.got_subcommand("error-table")) return error_table();
    if (app.got_subcommand("best-q2")) return best_q2(bits);
    return curve(name, bits, q2, parse_pow2_backward(backward_name), x_min, x_max, points, out);
  });
}
