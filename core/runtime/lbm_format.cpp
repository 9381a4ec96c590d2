#include "core/runtime/lbm_format.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/runtime/float_join.h"
#include "core/runtime/levels.h"
#include "core/runtime/thresholds.h"

namespace lowbit::runtime {

namespace {

// Little-endian writes and reads of fixed-width integers and floats, whatever the host's order.
template <class T>
void put(std::string& out, T value) {
  static_assert(std::is_trivially_copyable_v<T> &&
                (sizeof(T) == 1 || sizeof(T) == 4 || sizeof(T) == 8));
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void put_string(std::string& out, const std::string& s) {
  put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out += s;
}

// Sizes bounded so that nothing a file declares can ask for an absurd allocation or loop; a real
// model is far inside every one of them.
constexpr int64_t kMaxDim = int64_t{1} << 24;
constexpr int64_t kMaxKernel = 255;
constexpr uint32_t kMaxInputs = 4096;
constexpr uint32_t kMaxRank = 8;

class Reader {
 public:
  Reader(const std::string& bytes, size_t begin, const std::string& name)
      : bytes_(bytes), pos_(begin), name_(name) {}

  template <class T>
  T get(const std::string& field) {
    need(sizeof(T), field);
    uint64_t bits = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      bits |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    pos_ += sizeof(T);
    T value;
    std::memcpy(&value, &bits, sizeof(T));
    return value;
  }
  // An integer in [low, high], else an error naming the field and the range.
  int64_t get_in(const std::string& field, int64_t low, int64_t high) {
    const auto v = get<int64_t>(field);
    check_range(field, v, low, high);
    return v;
  }
  int32_t get_i32_in(const std::string& field, int64_t low, int64_t high) {
    const auto v = get<int32_t>(field);
    check_range(field, v, low, high);
    return v;
  }
  // A count of items of at least `item_bytes` bytes each: never more than the bytes left hold.
  uint32_t get_count(const std::string& field, size_t item_bytes, uint32_t limit) {
    const auto n = get<uint32_t>(field);
    if (n > limit || n * item_bytes > left())
      fail(field,
           concat(n, " entries, more than the ", left(), " bytes left hold (or than ", limit, ")"));
    return n;
  }
  std::string get_string(const std::string& field) {
    const uint32_t n = get_count(field, 1, std::numeric_limits<uint32_t>::max());
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string get_bytes(size_t n, const std::string& field) {
    need(n, field);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  size_t left() const { return bytes_.size() - pos_; }
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(concat(name_, ": ", field, ": ", what));
  }
  void check_range(const std::string& field, int64_t v, int64_t low, int64_t high) const {
    if (v < low || v > high) fail(field, concat(v, " is out of range; expected ", low, "..", high));
  }

 private:
  void need(size_t n, const std::string& field) const {
    if (n > left()) fail(field, concat("the file ends ", n - left(), " bytes early (truncated?)"));
  }
  const std::string& bytes_;
  size_t pos_;
  const std::string& name_;
};

uint32_t crc32_of(const std::string& bytes, size_t begin) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t pos = begin;
  while (pos < bytes.size()) {  // zlib takes uInt lengths
    const size_t n = std::min<size_t>(bytes.size() - pos, size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + pos), static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

// The distinct weight codes of a product, ascending, when the table (4 bytes a code) and indices
// into it take fewer bytes than the codes at their range's bits (power-of-two codes: 9 states of
// -8..8 in 4 bits rather than 5, once a layer has a few hundred weights); else none.
std::vector<int16_t> weight_table(const ProductOp& p) {
  std::vector<int16_t> table = p.weight_codes;
  std::sort(table.begin(), table.end());
  table.erase(std::unique(table.begin(), table.end()), table.end());
  if (table.size() < 2) return {};
  const auto count = static_cast<int64_t>(p.weight_codes.size());
  const int64_t with_table =
      4 * int64_t(table.size()) + (count * bits_for_range(int64_t(table.size()) - 1) + 7) / 8;
  const int64_t without = (count * bits_for_range(table.back() - table.front()) + 7) / 8;
  return with_table < without ? table : std::vector<int16_t>{};
}

void put_product(std::string& out, const ProductOp& p, uint32_t version) {
  put<uint8_t>(out, p.is_linear ? 1 : 0);
  for (int64_t v :
       {p.in_channels, p.out_channels, p.kernel_h, p.kernel_w, p.stride, p.padding, p.groups})
    put<int64_t>(out, v);
  put<int32_t>(out, p.to_codes.multiplier);
  put<int32_t>(out, p.to_codes.shift);
  put<int32_t>(out, p.code_low);
  put<int32_t>(out, p.code_high);
  const std::vector<int16_t> table = version >= 2 ? weight_table(p) : std::vector<int16_t>{};
  if (version >= 2) {
    put<uint32_t>(out, static_cast<uint32_t>(table.size()));
    for (int16_t c : table) put<int32_t>(out, c);
  }
  int32_t low = 0, high = 0;
  if (!table.empty()) {
    high = static_cast<int32_t>(table.size()) - 1;
  } else if (!p.weight_codes.empty()) {
    low = high = p.weight_codes[0];
    for (int16_t c : p.weight_codes) {
      low = std::min<int32_t>(low, c);
      high = std::max<int32_t>(high, c);
    }
  }
  const int bits = bits_for_range(high - low);
  put<int32_t>(out, low);
  put<uint8_t>(out, static_cast<uint8_t>(bits));
  put<uint64_t>(out, p.weight_codes.size());
  // Code i (or its index in the table) takes bits [i b, (i + 1) b) of the little-endian bit stream.
  std::string packed((p.weight_codes.size() * bits + 7) / 8, '\0');
  for (size_t i = 0; i < p.weight_codes.size(); ++i) {
    const auto u = static_cast<uint32_t>(
        table.empty()
            ? p.weight_codes[i] - low
            : std::lower_bound(table.begin(), table.end(), p.weight_codes[i]) - table.begin());
    for (int b = 0; b < bits; ++b)
      if ((u >> b) & 1u) {
        const size_t at = i * bits + b;
        packed[at / 8] = static_cast<char>(packed[at / 8] | (1 << (at % 8)));
      }
  }
  out += packed;
  for (int32_t b : p.bias) put<int32_t>(out, b);
  for (const FixedPointMultiplier& f : p.to_fixed) {
    put<int32_t>(out, f.multiplier);
    put<int32_t>(out, f.shift);
  }
}

FixedPointMultiplier get_multiplier(Reader& in, const std::string& field) {
  FixedPointMultiplier f;
  f.multiplier = in.get<int32_t>(field + ".multiplier");
  f.shift = in.get<int32_t>(field + ".shift");
  if (!f.valid())
    in.fail(field, concat("multiplier ", f.multiplier, " with shift ", f.shift,
                          "; expected 0, or 2^30..2^31-1 with a shift of 2..63"));
  return f;
}

ProductOp get_product(Reader& in, const std::string& where, uint32_t version) {
  ProductOp p;
  const auto is_linear = in.get<uint8_t>(where + ".is_linear");
  in.check_range(where + ".is_linear", is_linear, 0, 1);
  p.is_linear = is_linear == 1;
  p.in_channels = in.get_in(where + ".in_channels", 1, kMaxDim);
  p.out_channels = in.get_in(where + ".out_channels", 1, kMaxDim);
  p.kernel_h = in.get_in(where + ".kernel_h", 1, kMaxKernel);
  p.kernel_w = in.get_in(where + ".kernel_w", 1, kMaxKernel);
  p.stride = in.get_in(where + ".stride", 1, kMaxKernel);
  p.padding = in.get_in(where + ".padding", 0, kMaxKernel);
  p.groups = in.get_in(where + ".groups", 1, kMaxDim);
  if (p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0)
    in.fail(where + ".groups", concat(p.groups, " groups do not divide ", p.in_channels,
                                      " input and ", p.out_channels, " output channels"));
  p.to_codes = get_multiplier(in, where + ".to_codes");
  p.code_low = in.get_i32_in(where + ".code_low", -32768, 32767);
  p.code_high = in.get_i32_in(where + ".code_high", p.code_low, 32767);
  std::vector<int16_t> table;  // version 2: the codes the stored indices stand for
  if (version >= 2) {
    const uint32_t n = in.get_count(where + ".weight_table", 4, 65536);
    for (uint32_t i = 0; i < n; ++i) {
      const int32_t c = in.get_i32_in(where + ".weight_table", -32768, 32767);
      if (i > 0 && c <= table.back())
        in.fail(where + ".weight_table",
                concat("entry ", i, " = ", c, "; expected strictly ascending codes"));
      table.push_back(static_cast<int16_t>(c));
    }
  }
  const int32_t low =
      in.get_i32_in(where + ".weight_low", table.empty() ? -32768 : 0, table.empty() ? 32767 : 0);
  const auto bits = in.get<uint8_t>(where + ".weight_bits");
  in.check_range(where + ".weight_bits", bits, 1, 16);
  const auto count = in.get<uint64_t>(where + ".weight_count");
  const auto expected = static_cast<uint64_t>(p.out_channels * p.depth());
  if (count != expected)
    in.fail(where + ".weight_count", concat(count, " weights; expected ", expected, " (",
                                            p.out_channels, " x ", p.depth(), ")"));
  if (count > in.left() * 8 / bits)
    in.fail(where + ".weights", concat(count, " codes of ", int(bits), " bits need more than the ",
                                       in.left(), " bytes left (truncated?)"));
  const std::string packed = in.get_bytes((count * bits + 7) / 8, where + ".weights");
  p.weight_codes.resize(count);
  for (size_t i = 0; i < count; ++i) {
    uint32_t u = 0;
    for (int b = 0; b < bits; ++b) {
      const size_t at = i * bits + b;
      u |= static_cast<uint32_t>((static_cast<unsigned char>(packed[at / 8]) >> (at % 8)) & 1u)
           << b;
    }
    if (!table.empty() && u >= table.size())
      in.fail(where + ".weights", concat("index ", u, " of weight ", i, " is beyond the ",
                                         table.size(), " codes of the table"));
    const int64_t code = table.empty() ? int64_t{low} + u : table[u];
    if (code > 32767)
      in.fail(where + ".weights", concat("code ", code, " of weight ", i, " exceeds int16"));
    p.weight_codes[i] = static_cast<int16_t>(code);
  }
  // The accumulator must hold any sum of depth products (the compiler checked the same).
  const double largest_x = std::max(std::abs(double(p.code_low)), std::abs(double(p.code_high)));
  double largest_w = 0;
  for (int16_t c : p.weight_codes) largest_w = std::max(largest_w, std::abs(double(c)));
  if (largest_x * largest_w * double(p.depth()) >= 2147483647.0)
    in.fail(where, concat("products of ", p.depth(), " codes up to ", largest_x, " and ", largest_w,
                          " could overflow the int32 accumulator"));
  if (p.out_channels * 4 > int64_t(in.left()))
    in.fail(where + ".bias", concat(p.out_channels, " biases need more than the ", in.left(),
                                    " bytes left (truncated?)"));
  p.bias.resize(static_cast<size_t>(p.out_channels));
  for (int32_t& b : p.bias) b = in.get<int32_t>(where + ".bias");
  if (p.out_channels * 8 > int64_t(in.left()))
    in.fail(where + ".to_fixed", concat(p.out_channels, " multipliers need more than the ",
                                        in.left(), " bytes left (truncated?)"));
  p.to_fixed.resize(static_cast<size_t>(p.out_channels));
  for (FixedPointMultiplier& f : p.to_fixed) f = get_multiplier(in, where + ".to_fixed");
  return p;
}

// The number of parameters each kind of operation carries, and of inputs (-1: one or more).
struct KindShape {
  int params, inputs;
};
KindShape kind_shape(OpKind kind, const Reader& in, const std::string& where) {
  switch (kind) {
    case OpKind::kProduct:
      return {0, 1};
    case OpKind::kClamp:
      return {1, 1};
    case OpKind::kMaxPool:
    case OpKind::kAvgPool:
      return {3, 1};
    case OpKind::kGlobalAvgPool:
    case OpKind::kFlatten:
      return {0, 1};
    case OpKind::kPadChannels:
      return {2, 1};
    case OpKind::kReshape:
      return {-1, 1};
    case OpKind::kAdd:
      return {0, 2};
    case OpKind::kConcat:
      return {1, -1};
    case OpKind::kLevels:
      return {-1, 1};
    case OpKind::kThresholds:
      return {-1, -1};
    case OpKind::kWideProduct:
      return {-1, 1};
    case OpKind::kFloatJoin:
      return {-1, 2};
  }
  in.fail(where + ".kind", concat(static_cast<uint32_t>(kind), " is no operation; expected 1..14"));
}

}  // namespace

int bits_for_range(int64_t range) {
  int bits = 1;
  while (bits < 32 && (int64_t{1} << bits) <= range) ++bits;
  return bits;
}

uint32_t lbm_version_for(const Program& program) {
  for (const Op& op : program.ops)
    if (op.kind == OpKind::kFloatJoin) return 4;
  for (const Op& op : program.ops)
    if (op.kind == OpKind::kThresholds || op.kind == OpKind::kWideProduct) return 3;
  for (const Op& op : program.ops)
    if (op.kind == OpKind::kLevels ||
        (op.kind == OpKind::kProduct && !weight_table(op.product).empty()))
      return 2;
  return 1;
}

std::string encode_program(const Program& program) {
  const uint32_t version = lbm_version_for(program);
  std::string body;
  const ModelInfo& info = program.info;
  put_string(body, info.metadata);
  put<uint32_t>(body, static_cast<uint32_t>(info.input_dims.size()));
  for (int64_t d : info.input_dims) put<int64_t>(body, d);
  put<int64_t>(body, info.num_classes);
  put<uint32_t>(body, static_cast<uint32_t>(info.class_names.size()));
  for (const std::string& name : info.class_names) put_string(body, name);
  LOWBIT_CHECK(info.mean.size() == info.stddev.size(), "encode_program: ", info.mean.size(),
               " means for ", info.stddev.size(), " deviations");
  put<uint32_t>(body, static_cast<uint32_t>(info.mean.size()));
  for (float m : info.mean) put<float>(body, m);
  for (float s : info.stddev) put<float>(body, s);
  put<int32_t>(body, program.num_values);
  put<uint32_t>(body, static_cast<uint32_t>(program.ops.size()));
  for (const Op& op : program.ops) {
    put<uint32_t>(body, static_cast<uint32_t>(op.kind));
    put<uint32_t>(body, static_cast<uint32_t>(op.inputs.size()));
    for (int32_t v : op.inputs) put<int32_t>(body, v);
    put<int32_t>(body, op.output);
    put<uint32_t>(body, static_cast<uint32_t>(op.params.size()));
    for (int64_t v : op.params) put<int64_t>(body, v);
    if (op.kind == OpKind::kProduct) put_product(body, op.product, version);
  }
  std::string file(kLbmMagic, sizeof(kLbmMagic));
  put<uint32_t>(file, version);
  put<uint32_t>(file, 0);  // flags: none defined
  put<uint64_t>(file, body.size());
  put<uint32_t>(file, crc32_of(body, 0));
  put<uint32_t>(file, 0);  // reserved
  return file + body;
}

namespace {

// The header's fields: magic, version, body size against the bytes there are. Returns the
// version.
uint32_t check_header(const std::string& head, uint64_t file_size, const std::string& name) {
  if (head.size() < sizeof(kLbmMagic) ||
      head.compare(0, sizeof(kLbmMagic), kLbmMagic, sizeof(kLbmMagic)) != 0)
    throw Error(concat(name, ": not a lowbit packed model (magic number LOWBITRT missing)"));
  if (head.size() < kLbmHeaderBytes)
    throw Error(concat(name, ": the file ends inside its ", kLbmHeaderBytes, "-byte header (",
                       head.size(), " bytes; truncated?)"));
  Reader in(head, sizeof(kLbmMagic), name);
  const auto version = in.get<uint32_t>("version");
  if (version < 1 || version > kLbmVersion)
    in.fail("version", concat(version, "; this runtime reads versions 1..", kLbmVersion));
  const auto flags = in.get<uint32_t>("flags");
  if (flags != 0) in.fail("flags", concat(flags, "; expected 0"));
  const auto body_size = in.get<uint64_t>("body size");
  if (body_size != file_size - kLbmHeaderBytes)
    in.fail("body size", concat(body_size, " bytes declared, ", file_size - kLbmHeaderBytes,
                                " present (truncated or extended?)"));
  in.get<uint32_t>("checksum");  // checked against the body once it is read
  const auto reserved = in.get<uint32_t>("reserved");
  if (reserved != 0) in.fail("reserved", concat(reserved, "; expected 0"));
  return version;
}

}  // namespace

Program decode_program(const std::string& bytes, const std::string& name) {
  const uint32_t version = check_header(bytes.substr(0, kLbmHeaderBytes), bytes.size(), name);
  Reader header(bytes, 24, name);
  const auto crc = header.get<uint32_t>("checksum");
  if (crc != crc32_of(bytes, kLbmHeaderBytes))
    throw Error(concat(name, ": checksum mismatch (the file is damaged)"));

  Reader in(bytes, kLbmHeaderBytes, name);
  Program program;
  ModelInfo& info = program.info;
  info.metadata = in.get_string("metadata");
  const uint32_t rank = in.get_count("input rank", 8, kMaxRank);
  if (rank != 1 && rank != 3) in.fail("input rank", concat(rank, "; expected 1 or 3 (C, H, W)"));
  for (uint32_t k = 0; k < rank; ++k)
    info.input_dims.push_back(in.get_in(concat("input dim ", k), 1, kMaxDim));
  info.num_classes = in.get_in("classes", 1, kMaxDim);
  const uint32_t names = in.get_count("class names", 4, static_cast<uint32_t>(info.num_classes));
  if (names != 0 && names != info.num_classes)
    in.fail("class names", concat(names, " names for ", info.num_classes, " classes"));
  for (uint32_t k = 0; k < names; ++k) info.class_names.push_back(in.get_string("class name"));
  const uint32_t channels = in.get_count("normalization", 8, kMaxDim);
  if (channels != 0 && (rank != 3 || channels != info.input_dims[0]))
    in.fail("normalization",
            concat(channels, " channels; expected ", rank == 3 ? info.input_dims[0] : 0));
  info.mean.resize(channels);
  info.stddev.resize(channels);
  for (float& m : info.mean) m = in.get<float>("mean");
  for (float& s : info.stddev) {
    s = in.get<float>("stddev");
    if (!(s > 0.0f) || !std::isfinite(s)) in.fail("stddev", concat(s, "; expected > 0"));
  }
  program.num_values = in.get_i32_in("values", 1, 1 << 20);
  const uint32_t count = in.get_count("operations", 16, 1 << 20);
  if (count == 0) in.fail("operations", "none; expected at least one");
  std::vector<bool> defined(static_cast<size_t>(program.num_values), false);
  defined[0] = true;
  for (uint32_t k = 0; k < count; ++k) {
    const std::string where = concat("operation ", k);
    Op op;
    op.kind = static_cast<OpKind>(in.get<uint32_t>(where + ".kind"));
    const KindShape shape = kind_shape(op.kind, in, where);
    if (op.kind == OpKind::kLevels && version < 2)
      in.fail(where + ".kind", "11 (levels) in a version 1 file; expected version 2");
    const bool thresholds = op.kind == OpKind::kThresholds || op.kind == OpKind::kWideProduct;
    if (thresholds && version < 3)
      in.fail(where + ".kind",
              concat(static_cast<uint32_t>(op.kind), " (",
                     op.kind == OpKind::kWideProduct ? "wide product" : "thresholds",
                     ") in a version ", version, " file; expected version 3"));
    if (op.kind == OpKind::kFloatJoin && version < 4)
      in.fail(where + ".kind",
              concat("14 (float join) in a version ", version, " file; expected version 4"));
    const uint32_t inputs = in.get_count(where + ".inputs", 4, kMaxInputs);
    if (shape.inputs >= 0 ? inputs != uint32_t(shape.inputs) : inputs == 0)
      in.fail(where + ".inputs", concat(inputs, "; expected ",
                                        shape.inputs >= 0 ? concat(shape.inputs) : "1 or more"));
    for (uint32_t i = 0; i < inputs; ++i) {
      const int32_t v = in.get_i32_in(where + ".input", 0, program.num_values - 1);
      if (!defined[size_t(v)])
        in.fail(where + ".input", concat("value ", v, " is used before an operation makes it"));
      op.inputs.push_back(v);
    }
    op.output = in.get_i32_in(where + ".output", 1, program.num_values - 1);
    if (defined[size_t(op.output)])
      in.fail(where + ".output", concat("value ", op.output, " is made twice"));
    defined[size_t(op.output)] = true;
    const uint32_t params =
        in.get_count(where + ".params", 8,
                     thresholds || op.kind == OpKind::kFloatJoin ? uint32_t{1} << 30
                     : op.kind == OpKind::kLevels                ? 2 * kMaxLevelThresholds + 1
                                                                 : kMaxRank + 1);
    if (shape.params >= 0 ? params != uint32_t(shape.params) : params == 0)
      in.fail(where + ".params", concat(params, "; expected ",
                                        shape.params >= 0 ? concat(shape.params) : "1 or more"));
    const bool float_join = op.kind == OpKind::kFloatJoin;
    for (uint32_t i = 0; i < params; ++i)
      op.params.push_back(
          thresholds ? in.get_in(where + ".param", ThresholdMap::kAlways, ThresholdMap::kNever)
          : float_join
              ? in.get_in(where + ".param", INT32_MIN, int64_t{UINT32_MAX})  // floats as bits
              : in.get_in(where + ".param", -kMaxDim, INT32_MAX));
    if (float_join) {
      std::string error = float_join_params_error(op.params);
      if (!error.empty()) in.fail(where + ".params", error);
    }
    if (op.kind == OpKind::kLevels) {
      const std::string error = level_params_error(op.params);
      if (!error.empty()) in.fail(where + ".params", error);
    }
    if (op.kind == OpKind::kWideProduct) {
      const std::string error = wide_product_params_error(op.params);
      if (!error.empty()) in.fail(where + ".params", error);
    }
    if (op.kind == OpKind::kThresholds) {
      std::string error = threshold_params_error(op.params);
      if (error.empty() && op.inputs.size() != (op.params[2] > 0 ? 2u : 1u))
        error = concat(op.inputs.size(), " inputs; expected ", op.params[2] > 0 ? 2 : 1);
      if (!error.empty()) in.fail(where + ".params", error);
    }
    if (op.kind == OpKind::kProduct) op.product = get_product(in, where, version);
    program.ops.push_back(std::move(op));
  }
  if (in.left() != 0) in.fail("end", concat(in.left(), " bytes after the last operation"));
  return program;
}

Program read_program_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(concat(path, ": cannot open packed model (missing or unreadable)"));
  if (!S_ISREG(st.st_mode))
    throw Error(concat(path, ": not a regular file; expected a packed model (.lbm)"));
  constexpr int64_t kMaxFile = int64_t{1} << 30;
  if (st.st_size > kMaxFile)
    throw Error(concat(path, ": ", st.st_size, " bytes; a packed model is at most 1 GiB"));
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(concat(path, ": cannot open packed model (missing or unreadable)"));
  std::string head(kLbmHeaderBytes, '\0');
  file.read(head.data(), kLbmHeaderBytes);
  head.resize(static_cast<size_t>(file.gcount()));
  check_header(head, static_cast<uint64_t>(st.st_size), path);
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  std::memcpy(bytes.data(), head.data(), head.size());
  file.read(bytes.data() + head.size(), st.st_size - int64_t(head.size()));
  if (file.gcount() != st.st_size - int64_t(head.size()))
    throw Error(concat(path, ": read ", head.size() + size_t(file.gcount()), " of ", st.st_size,
                       " bytes (the file changed while it was read?)"));
  return decode_program(bytes, path);
}

}  // namespace lowbit::runtime
