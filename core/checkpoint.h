// Checkpoint files: magic number, format version, the run's configuration (JSON text),
// named float tensors and named byte blobs (RNG state, integer weight states), and a
// CRC-32 of everything before it. Written to a temporary file in the same directory,
// flushed to disk and renamed, so a crash never leaves a half-written checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/named_tensor.h"

namespace lowbit {

struct NamedBlob {
  std::string name;
  std::vector<uint8_t> bytes;
};

struct Checkpoint {
  std::string config;  // JSON text
  std::vector<NamedTensor> tensors;
  std::vector<NamedBlob> blobs;

  // Lookups; throw lowbit::Error naming the missing entry.
  const Tensor& tensor(const std::string& name) const;
  const NamedBlob& blob(const std::string& name) const;
  bool has_tensor(const std::string& name) const;
};

constexpr uint32_t kCheckpointVersion = 1;

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Throws lowbit::Error naming the file (and the tensor or entry) on a missing file or one that is
// not regular (a directory, a FIFO, /dev/zero), a wrong magic number, an unknown version,
// truncation, a checksum mismatch, a size the file cannot hold or a tensor value that is NaN or
// infinite (named with its tensor and element). The magic number and the size are
// checked before the body is read, the checksum is computed in pieces, and no size is allocated
// before the file is known to hold it: memory stays within the file's size.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace lowbit
