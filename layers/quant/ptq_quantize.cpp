// The three data-free grids of section III.a of the bit-efficient quantization paper, fitted
// to a channel's values, and the code <-> value maps that packing and evaluation share.
//
// Readings of the paper chosen here (and why):
// - Asymmetric: the paper prints x_q = round((x - min) 2^(n-1) / (max - min)). Taken
//   literally that grid has 2^(n-1) + 1 levels, which still needs n bits yet leaves almost
//   half of the 2^n codes unused (and at n = 2 it would be the same 3 levels as symmetric,
//   while the paper's Table 1 shows the two far apart). We read it as the usual asymmetric
//   quantizer of its reference [2] (Krishnamoorthi): 2^n levels, step (max - min)/(2^n - 1),
//   min and max exactly representable. As printed, no zero-point nudging: zero is in general
//   not a level, so at few bits the many near-zero weights all move to a non-zero level (the
//   paper's asymmetric collapses at 2 bits).
// - Symmetric: exactly the printed formula: levels q step, |q| <= 2^(n-1) - 1 (2^n - 1 levels).
// - Power-of-two: sign(x) 2^round(log2|x|), rounded in the log domain as printed (the boundary
//   between 2^k and 2^(k+1) is 2^(k+1/2), not the linear midpoint). The paper gives it no bit
//   width; for an n-bit budget we keep the largest exponent, round(log2 max|x|), so the range is
//   preserved ("this preserves the range of float tensor"), and spend the codes on zero, one
//   sign bit and the 2^(n-1) - 1 exponents below it: 2^n - 1 codes. Magnitudes below the
//   smallest level 2^min_exp go to the linearly nearer of 0 and 2^min_exp (zero below
//   2^(min_exp - 1)), as the power-of-two grids {0, ±2^p, ..., ±1} of the DST weights do.
//   pow2-free is the paper's own variant: every exponent the values have, and the bits to
//   code them are an outcome (ceil(log2(2K + 1))).
#include "layers/quant/ptq_quantize.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace lowbit {

const char* ptq_scheme_name(PtqScheme scheme) {
  switch (scheme) {
    case PtqScheme::kAsymmetric:
      return "asym";
    case PtqScheme::kSymmetric:
      return "sym";
    case PtqScheme::kPow2:
      return "pow2";
    case PtqScheme::kPow2Free:
      return "pow2-free";
  }
  return "?";
}

const char* ptq_granularity_name(Granularity granularity) {
  return granularity == Granularity::kScalar ? "tensor" : "channel";
}

PtqScheme parse_ptq_scheme(const std::string& name) {
  for (PtqScheme s :
       {PtqScheme::kAsymmetric, PtqScheme::kSymmetric, PtqScheme::kPow2, PtqScheme::kPow2Free}) {
    if (name == ptq_scheme_name(s)) return s;
  }
  throw Error(concat("unknown quantization scheme '", name,
                     "'; known schemes: asym, sym, pow2, pow2-free"));
}

Granularity parse_ptq_granularity(const std::string& name) {
  if (name == "tensor") return Granularity::kScalar;
  if (name == "channel") return Granularity::kVector;
  throw Error(concat("unknown granularity '", name, "'; expected tensor or channel"));
}

void validate(const PtqSpec& spec) {
  if (spec.scheme == PtqScheme::kPow2Free) return;
  LOWBIT_CHECK(spec.bits >= kPtqMinBits && spec.bits <= kPtqMaxBits, "quantization bit width ",
               spec.bits, " is out of range for ", ptq_scheme_name(spec.scheme), "; expected ",
               kPtqMinBits, "..", kPtqMaxBits);
}

std::string ptq_spec_label(const PtqSpec& spec) {
  if (spec.scheme == PtqScheme::kPow2Free) return ptq_scheme_name(spec.scheme);
  return concat(ptq_scheme_name(spec.scheme), "-", spec.bits);
}

PtqSpec parse_ptq_spec_label(const std::string& label, Granularity granularity) {
  PtqSpec spec;
  spec.granularity = granularity;
  if (label == ptq_scheme_name(PtqScheme::kPow2Free)) {
    spec.scheme = PtqScheme::kPow2Free;
    spec.bits = 0;
    return spec;
  }
  const size_t dash = label.rfind('-');
  const std::string digits = dash == std::string::npos ? "" : label.substr(dash + 1);
  const bool number = !digits.empty() && digits.size() <= 2 &&
                      digits.find_first_not_of("0123456789") == std::string::npos;
  LOWBIT_CHECK(number, "quantization cell '", label,
               "': expected SCHEME-BITS (asym-4, sym-8, pow2-3) or pow2-free");
  spec.scheme = parse_ptq_scheme(label.substr(0, dash));
  LOWBIT_CHECK(spec.scheme != PtqScheme::kPow2Free, "quantization cell '", label,
               "': pow2-free takes no bit width (its exponents set it)");
  spec.bits = std::stoi(digits);
  validate(spec);
  return spec;
}

int64_t ptq_levels(const PtqGrid& g) {
  switch (g.scheme) {
    case PtqScheme::kAsymmetric:
      return int64_t{1} << g.bits;
    case PtqScheme::kSymmetric:
      return (int64_t{1} << g.bits) - 1;
    case PtqScheme::kPow2:
    case PtqScheme::kPow2Free: {
      const int64_t k = g.max_exp >= g.min_exp ? int64_t{g.max_exp} - g.min_exp + 1 : 0;
      return 2 * k + 1;
    }
  }
  return 0;
}

int round_log2(float a) {
  int e = 0;
  const double m = std::frexp(static_cast<double>(a), &e);  // a = m 2^e, m in [1/2, 1)
  // log2 a = (e - 1) + log2(2m) with 2m in [1, 2): round up when 2m >= sqrt(2). No float
  // equals sqrt(2), and the double nearest to it lies closer than any float, so this is exact.
  return 2.0 * m >= 1.4142135623730951 ? e : e - 1;
}

namespace {

// Exponents per sign (K) of a pow2 grid.
int64_t pow2_exponents(const PtqGrid& g) {
  return g.max_exp >= g.min_exp ? int64_t{g.max_exp} - g.min_exp + 1 : 0;
}

int bits_for(int64_t codes) {  // ceil(log2(codes)), at least 1
  int b = 1;
  while ((int64_t{1} << b) < codes) ++b;
  return b;
}

}  // namespace

PtqGrid fit_ptq_grid(const float* x, int64_t n, PtqScheme scheme, int bits) {
  PtqSpec spec;
  spec.scheme = scheme;
  spec.bits = bits;
  validate(spec);
  LOWBIT_CHECK(n >= 1, "fit_ptq_grid: needs at least one value, got ", n);
  double lo = x[0], hi = x[0], amax = 0;
  int e_lo = 0, e_hi = 0;
  bool any_nonzero = false;
  for (int64_t i = 0; i < n; ++i) {
    LOWBIT_CHECK(std::isfinite(x[i]), "post-training quantization: value ", x[i], " at index ", i,
                 " is not finite");
    lo = std::min(lo, static_cast<double>(x[i]));
    hi = std::max(hi, static_cast<double>(x[i]));
    amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    if (scheme == PtqScheme::kPow2Free && x[i] != 0.0f) {
      const int e = round_log2(std::fabs(x[i]));
      e_lo = any_nonzero ? std::min(e_lo, e) : e;
      e_hi = any_nonzero ? std::max(e_hi, e) : e;
      any_nonzero = true;
    }
  }
  PtqGrid g;
  g.scheme = scheme;
  g.bits = bits;
  switch (scheme) {
    case PtqScheme::kAsymmetric:
      g.offset = lo;
      g.step = (hi - lo) / static_cast<double>((int64_t{1} << bits) - 1);
      break;
    case PtqScheme::kSymmetric:
      g.step = amax / static_cast<double>((int64_t{1} << (bits - 1)) - 1);
      break;
    case PtqScheme::kPow2:
      if (amax > 0) {
        g.max_exp = round_log2(static_cast<float>(amax));
        g.min_exp = g.max_exp - static_cast<int>((int64_t{1} << (bits - 1)) - 2);
      } else {  // all zeros: K = 0, only the zero code
        g.max_exp = 0;
        g.min_exp = 1;
      }
      break;
    case PtqScheme::kPow2Free:
      g.min_exp = any_nonzero ? e_lo : 1;
      g.max_exp = any_nonzero ? e_hi : 0;
      g.bits = bits_for(ptq_levels(g));
      LOWBIT_CHECK(g.bits <= kPtqMaxBits, "pow2-free: ", ptq_levels(g), " levels need ", g.bits,
                   " bits, more than ", kPtqMaxBits);
      break;
  }
  // 2^128 is not a float: a magnitude of 2^127.5 or more has no power-of-two level.
  const bool pow2 = scheme == PtqScheme::kPow2 || scheme == PtqScheme::kPow2Free;
  LOWBIT_CHECK(!pow2 || g.max_exp <= 127, "power-of-two quantization: magnitude ", amax,
               " rounds to 2^", g.max_exp, ", beyond float's range");
  return g;
}

uint16_t ptq_code(float x, const PtqGrid& g) {
  switch (g.scheme) {
    case PtqScheme::kAsymmetric: {
      if (g.step <= 0) return 0;
      const double top = static_cast<double>((int64_t{1} << g.bits) - 1);
      return static_cast<uint16_t>(std::clamp(std::round((x - g.offset) / g.step), 0.0, top));
    }
    case PtqScheme::kSymmetric: {
      const double half = static_cast<double>((int64_t{1} << (g.bits - 1)) - 1);
      if (g.step <= 0) return static_cast<uint16_t>(half);
      return static_cast<uint16_t>(std::clamp(std::round(x / g.step), -half, half) + half);
    }
    case PtqScheme::kPow2:
    case PtqScheme::kPow2Free: {
      const int64_t k = pow2_exponents(g);
      if (x == 0.0f || k == 0) return 0;
      const float a = std::fabs(x);
      int e = std::min(round_log2(a), g.max_exp);
      if (e < g.min_exp) {
        // Below the smallest level: the linearly nearer of 0 and 2^min_exp.
        if (static_cast<double>(a) < std::ldexp(1.0, g.min_exp - 1)) return 0;
        e = g.min_exp;
      }
      const int64_t c = int64_t{e} - g.min_exp + 1;
      return static_cast<uint16_t>(x > 0 ? c : k + c);
    }
  }
  return 0;
}

float ptq_value(uint16_t code, const PtqGrid& g) {
  switch (g.scheme) {
    case PtqScheme::kAsymmetric:
      return static_cast<float>(g.offset + code * g.step);
    case PtqScheme::kSymmetric: {
      const int64_t half = (int64_t{1} << (g.bits - 1)) - 1;
      return static_cast<float>(static_cast<double>(code - half) * g.step);
    }
    case PtqScheme::kPow2:
    case PtqScheme::kPow2Free: {
      const int64_t k = pow2_exponents(g);
      if (code == 0) return 0.0f;
      LOWBIT_CHECK(code <= 2 * k, "pow2 code ", code, " is outside the grid's ", 2 * k + 1,
                   " codes");
      const bool negative = code > k;
      const int64_t c = negative ? code - k : code;
      const float v = std::ldexp(1.0f, static_cast<int>(g.min_exp + c - 1));
      return negative ? -v : v;
    }
  }
  return 0.0f;
}

std::vector<PtqGrid> ptq_quantize(const float* x, int64_t channels, int64_t per_channel,
                                  PtqScheme scheme, int bits, float* y, uint16_t* codes) {
  LOWBIT_CHECK(channels >= 1 && per_channel >= 1, "ptq_quantize: shape (", channels, ", ",
               per_channel, ") must have at least one value per channel");
  std::vector<PtqGrid> grids;
  grids.reserve(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * per_channel;
    const PtqGrid g = fit_ptq_grid(xc, per_channel, scheme, bits);
    for (int64_t i = 0; i < per_channel; ++i) {
      const uint16_t code = ptq_code(xc[i], g);
      if (codes != nullptr) codes[c * per_channel + i] = code;
      y[c * per_channel + i] = ptq_value(code, g);
    }
    grids.push_back(g);
  }
  return grids;
}

}  // namespace lowbit
