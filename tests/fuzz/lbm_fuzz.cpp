// Fuzz target: a packed model file (core/runtime/lbm_format.h decode_program), and the interpreter
// built on what it accepts (core/runtime/engine.h Engine checks every value's shape), as
// read_program_file and the C API's lowbit_load do. The bytes are the file. As for checkpoints, an
// input whose body checksum (bytes 24-27, CRC-32 of what follows the 32-byte header) does not match
// is decoded as it is, then again with the checksum made right.
#include <zlib.h>

#include <cstring>

#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {
namespace {

const char* const kName = "model.lbm";

// The engine knows no file name: its errors name the operation, and only decode_program's must name
// the file.
Outcome decode_and_prepare(const std::string& bytes) {
  runtime::Program program;
  const Outcome decoded =
      read_or_refuse(kName, [&] { program = runtime::decode_program(bytes, kName); });
  if (decoded != Outcome::kRead) return decoded;
  return read_or_refuse("", [&] { runtime::Engine engine(std::move(program)); });
}

}  // namespace

Outcome lbm(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  const Outcome as_is = decode_and_prepare(bytes);
  constexpr size_t kHeader = runtime::kLbmHeaderBytes, kCrcAt = 24;
  if (size < kHeader) return as_is;
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), data + kHeader, static_cast<uInt>(size - kHeader)));
  uint32_t stored;
  std::memcpy(&stored, data + kCrcAt, 4);
  if (stored == crc) return as_is;
  std::memcpy(bytes.data() + kCrcAt, &crc, 4);  // little-endian, as the file stores it
  return decode_and_prepare(bytes);
}

}  // namespace lowbit::fuzz
