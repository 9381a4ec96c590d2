// The size of a model on disk, as Table 1 (size per bit width) and Table 5 (G-zip and
// 7-zip sizes) of the bit-efficient quantization paper measure it: every tensor stored as
// float32 (the paper's "quantized, stored back in floating point"), or as n-bit codes packed
// with their grids, each raw and after gzip (zlib) and xz (LZMA2, the algorithm of 7-zip).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"
#include "models/transforms/ptq_model.h"

namespace lowbit {

// Every parameter and buffer (model_tensors order) as little-endian float32: 4 bytes a value.
std::vector<uint8_t> float_model_bytes(const Module& model);

// codes[0..n) at `bits` bits each, least significant bit first, the last byte zero-padded:
// ceil(n bits / 8) bytes appended to `out`.
void pack_codes(const uint16_t* codes, int64_t n, int bits, std::vector<uint8_t>& out);

// The packed model: for each tensor in model_tensors order, a quantized one as
//   1 byte: bits per code; per grid: asym offset + step (2 float32), sym step (float32),
//   pow2 max_exp (int16; min_exp follows from the bits), pow2-free min_exp and max_exp
//   (2 int16); then its codes packed at that many bits;
// and every other tensor (e.g. running statistics left in float) as float32. Shapes and names
// are the architecture's, known to the reader, and not stored (nor are they in float_model_bytes).
std::vector<uint8_t> packed_model_bytes(const Module& model, const PtqModelResult& quantized);

// Sizes of `bytes` compressed in memory: gzip format at zlib `level` (gzip's default is 6),
// and xz format at `preset` (xz's default is 6; 9 is the strongest). Throw on a library error.
int64_t gzip_size(const std::vector<uint8_t>& bytes, int level = 6);
int64_t xz_size(const std::vector<uint8_t>& bytes, uint32_t preset = 6);

struct CompressionOptions {
  bool enabled = true;
  int gzip_level = 6;
  uint32_t xz_preset = 6;
};

// One model's sizes in bytes; the compressed ones are -1 when compression is off.
struct ModelSize {
  int64_t float_bytes = 0, float_gzip = -1, float_xz = -1;
  int64_t packed_bytes = 0, packed_gzip = -1, packed_xz = -1;
};

// The sizes of `model` as it is now; `quantized` null: the float model (packed = float).
ModelSize model_size(const Module& model, const PtqModelResult* quantized,
                     const CompressionOptions& options);

}  // namespace lowbit
