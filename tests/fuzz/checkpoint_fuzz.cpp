// Fuzz target: a checkpoint file (core/checkpoint.h load_checkpoint). The bytes are the file. A
// CRC-32 over the whole file guards every field, so almost every mutation would stop at the
// checksum: an input whose checksum does not match is read as it is, then again with its checksum
// made right, which lets mutations reach the counts, names, shapes and sizes behind it.
#include <zlib.h>

#include <cstring>
#include <vector>

#include "core/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome checkpoint(const uint8_t* data, size_t size) {
  const std::string path = fresh_folder("checkpoint") + "/model.ckpt";
  write_file(path, data, size);
  const Outcome as_is = read_or_refuse(path, [&] { (void)load_checkpoint(path); });
  if (size < 4) return as_is;
  std::vector<uint8_t> fixed(data, data + size);
  const uint32_t crc =
      static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), fixed.data(), static_cast<uInt>(size - 4)));
  uint32_t stored;
  std::memcpy(&stored, data + size - 4, 4);
  if (stored == crc) return as_is;
  std::memcpy(fixed.data() + size - 4, &crc, 4);  // little-endian, as the file stores it
  write_file(path, fixed.data(), fixed.size());
  return read_or_refuse(path, [&] { (void)load_checkpoint(path); });
}

}  // namespace lowbit::fuzz
