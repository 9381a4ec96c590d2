// Model sizes: float32 and packed serializations, and their gzip (zlib) and xz (liblzma)
// compressed sizes, computed in memory.
#include "apps/ptq/ptq_size.h"

#include <lzma.h>
#include <zlib.h>

#include <cstring>
#include <map>

#include "core/check.h"

namespace lowbit {

namespace {

template <class T>
void put(std::vector<uint8_t>& out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian on every machine lowbit builds for
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

void put_floats(std::vector<uint8_t>& out, const Tensor& t) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(t.data());
  out.insert(out.end(), bytes, bytes + sizeof(float) * static_cast<size_t>(t.numel()));
}

void put_grid(std::vector<uint8_t>& out, const PtqGrid& g) {
  switch (g.scheme) {
    case PtqScheme::kAsymmetric:
      put(out, static_cast<float>(g.offset));
      put(out, static_cast<float>(g.step));
      break;
    case PtqScheme::kSymmetric:
      put(out, static_cast<float>(g.step));
      break;
    // Exponents as int16: a float's run from -149 (subnormals) to 127 does not fit int8.
    case PtqScheme::kPow2:
      put(out, static_cast<int16_t>(g.max_exp));
      break;
    case PtqScheme::kPow2Free:
      put(out, static_cast<int16_t>(g.min_exp));
      put(out, static_cast<int16_t>(g.max_exp));
      break;
  }
}

}  // namespace

std::vector<uint8_t> float_model_bytes(const Module& model) {
  std::vector<uint8_t> out;
  for (const ModelTensor& m : model_tensors(model)) put_floats(out, m.tensor);
  return out;
}

void pack_codes(const uint16_t* codes, int64_t n, int bits, std::vector<uint8_t>& out) {
  LOWBIT_CHECK(bits >= 1 && bits <= 16, "pack_codes: ", bits, " bits per code; expected 1..16");
  uint32_t buffer = 0;  // pending bits, least significant first
  int pending = 0;
  for (int64_t i = 0; i < n; ++i) {
    LOWBIT_CHECK(codes[i] < (1u << bits), "pack_codes: code ", codes[i], " at index ", i,
                 " does not fit ", bits, " bits");
    buffer |= static_cast<uint32_t>(codes[i]) << pending;
    pending += bits;
    while (pending >= 8) {
      out.push_back(static_cast<uint8_t>(buffer & 0xffu));
      buffer >>= 8;
      pending -= 8;
    }
  }
  if (pending > 0) out.push_back(static_cast<uint8_t>(buffer & 0xffu));
}

std::vector<uint8_t> packed_model_bytes(const Module& model, const PtqModelResult& quantized) {
  std::map<std::string, const PtqTensor*> by_name;
  for (const PtqTensor& t : quantized.tensors) by_name[t.name] = &t;
  std::vector<uint8_t> out;
  for (const ModelTensor& m : model_tensors(model)) {
    const auto it = by_name.find(m.name);
    if (it == by_name.end()) {
      put_floats(out, m.tensor);
      continue;
    }
    const PtqTensor& t = *it->second;
    LOWBIT_CHECK(static_cast<int64_t>(t.codes.size()) == m.tensor.numel(),
                 "packed_model_bytes: ", t.name, " has ", t.codes.size(), " codes for ",
                 m.tensor.numel(), " values");
    put(out, static_cast<uint8_t>(t.bits));
    for (const PtqGrid& g : t.grids) put_grid(out, g);
    pack_codes(t.codes.data(), static_cast<int64_t>(t.codes.size()), t.bits, out);
  }
  return out;
}

int64_t gzip_size(const std::vector<uint8_t>& bytes, int level) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer, as the gzip program writes.
  LOWBIT_CHECK(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
               "gzip: cannot start zlib at level ", level, " (expected 0..9)");
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 64);
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&z, Z_FINISH);
  const auto size = static_cast<int64_t>(z.total_out);
  deflateEnd(&z);
  LOWBIT_CHECK(status == Z_STREAM_END, "gzip: zlib failed with status ", status, " on ",
               bytes.size(), " bytes");
  return size;
}

int64_t xz_size(const std::vector<uint8_t>& bytes, uint32_t preset) {
  LOWBIT_CHECK(preset <= 9, "xz: preset ", preset, " is out of range; expected 0..9");
  std::vector<uint8_t> out(lzma_stream_buffer_bound(bytes.size()));
  size_t written = 0;
  const lzma_ret status = lzma_easy_buffer_encode(preset, LZMA_CHECK_CRC64, nullptr, bytes.data(),
                                                  bytes.size(), out.data(), &written, out.size());
  LOWBIT_CHECK(status == LZMA_OK, "xz: liblzma failed with status ", static_cast<int>(status),
               " on ", bytes.size(), " bytes");
  return static_cast<int64_t>(written);
}

ModelSize model_size(const Module& model, const PtqModelResult* quantized,
                     const CompressionOptions& o) {
  ModelSize s;
  const std::vector<uint8_t> floats = float_model_bytes(model);
  s.float_bytes = static_cast<int64_t>(floats.size());
  if (o.enabled) {
    s.float_gzip = gzip_size(floats, o.gzip_level);
    s.float_xz = xz_size(floats, o.xz_preset);
  }
  if (quantized == nullptr) {
    s.packed_bytes = s.float_bytes, s.packed_gzip = s.float_gzip, s.packed_xz = s.float_xz;
    return s;
  }
  const std::vector<uint8_t> packed = packed_model_bytes(model, *quantized);
  s.packed_bytes = static_cast<int64_t>(packed.size());
  if (o.enabled) {
    s.packed_gzip = gzip_size(packed, o.gzip_level);
    s.packed_xz = xz_size(packed, o.xz_preset);
  }
  return s;
}

}  // namespace lowbit
