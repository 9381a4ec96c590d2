// Checkpoint serialization. Layout (little-endian):
//   "LOWBITCK" | u32 version | str config | u64 n_tensors | n x (str name, u32 rank,
//   rank x i64 dims, numel x f32) | u64 n_blobs | n x (str name, u64 size, bytes) | u32 crc32
// where str = u64 length + bytes, and the CRC covers every byte before it.
#include "core/checkpoint.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/atomic_file.h"
#include "core/check.h"

namespace lowbit {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'W', 'B', 'I', 'T', 'C', 'K'};

class Writer {
 public:
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  template <class T>
  void pod(T v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  std::vector<uint8_t>& buffer() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  Reader(const std::string& path, const std::vector<uint8_t>& data, size_t end)
      : path_(path), data_(data), end_(end) {}
  void bytes(void* p, size_t n) {
    LOWBIT_CHECK(n <= end_ - pos_, path_, ": checkpoint is truncated (needed ", n,
                 " more bytes at offset ", pos_, ")");
    std::memcpy(p, data_.data() + pos_, n);
    pos_ += n;
  }
  template <class T>
  T pod() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
  std::string str() {
    const uint64_t n = pod<uint64_t>();
    LOWBIT_CHECK(n <= end_ - pos_, path_, ": checkpoint is truncated (string of ", n, " bytes)");
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  size_t remaining() const { return end_ - pos_; }

 private:
  const std::string& path_;
  const std::vector<uint8_t>& data_;
  size_t end_;
  size_t pos_ = 0;
};

uint32_t crc_of(const uint8_t* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in pieces.
  while (n > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, piece);
    p += piece;
    n -= piece;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return t.tensor;
  }
  throw Error(concat("checkpoint has no tensor '", name, "'"));
}

bool Checkpoint::has_tensor(const std::string& name) const {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return true;
  }
  return false;
}

const NamedBlob& Checkpoint::blob(const std::string& name) const {
  for (const NamedBlob& b : blobs) {
    if (b.name == name) return b;
  }
  throw Error(concat("checkpoint has no entry '", name, "'"));
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.pod<uint32_t>(kCheckpointVersion);
  w.str(c.config);
  w.pod<uint64_t>(c.tensors.size());
  for (const NamedTensor& t : c.tensors) {
    w.str(t.name);
    w.pod<uint32_t>(static_cast<uint32_t>(t.tensor.rank()));
    for (int64_t d : t.tensor.shape().dims()) w.pod<int64_t>(d);
    w.bytes(t.tensor.data(), sizeof(float) * static_cast<size_t>(t.tensor.numel()));
  }
  w.pod<uint64_t>(c.blobs.size());
  for (const NamedBlob& b : c.blobs) {
    w.str(b.name);
    w.pod<uint64_t>(b.bytes.size());
    w.bytes(b.bytes.data(), b.bytes.size());
  }
  w.pod<uint32_t>(crc_of(w.buffer().data(), w.buffer().size()));
  const std::vector<uint8_t>& bytes = w.buffer();
  write_file_atomic(path, bytes.data(), bytes.size());
}

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOWBIT_CHECK(in.good(), path, ": cannot open checkpoint (missing or unreadable)");
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  LOWBIT_CHECK(
      data.size() >= sizeof kMagic + 8 && std::memcmp(data.data(), kMagic, sizeof kMagic) == 0,
      path, ": not a lowbit checkpoint (magic number LOWBITCK missing)");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, data.data() + data.size() - 4, 4);
  LOWBIT_CHECK(crc_of(data.data(), data.size() - 4) == stored_crc, path,
               ": checksum mismatch (the file is corrupt or truncated)");
  Reader r(path, data, data.size() - 4);
  uint8_t magic[sizeof kMagic];
  r.bytes(magic, sizeof magic);
  const uint32_t version = r.pod<uint32_t>();
  LOWBIT_CHECK(version == kCheckpointVersion, path, ": checkpoint format version ", version,
               ", expected ", kCheckpointVersion);
  Checkpoint c;
  c.config = r.str();
  const uint64_t n_tensors = r.pod<uint64_t>();
  for (uint64_t i = 0; i < n_tensors; ++i) {
    NamedTensor t;
    t.name = r.str();
    const uint32_t rank = r.pod<uint32_t>();
    LOWBIT_CHECK(rank <= 8, path, ": tensor '", t.name, "' has rank ", rank,
                 ", expected at most 8");
    std::vector<int64_t> dims(rank);
    for (auto& d : dims) d = r.pod<int64_t>();
    const Shape shape(dims);
    LOWBIT_CHECK(static_cast<uint64_t>(shape.numel()) * sizeof(float) <= r.remaining(), path,
                 ": tensor '", t.name, "' of shape ", shape.str(), " is truncated");
    t.tensor = Tensor::empty(shape);
    r.bytes(t.tensor.data(), sizeof(float) * static_cast<size_t>(shape.numel()));
    c.tensors.push_back(std::move(t));
  }
  const uint64_t n_blobs = r.pod<uint64_t>();
  for (uint64_t i = 0; i < n_blobs; ++i) {
    NamedBlob b;
    b.name = r.str();
    const uint64_t size = r.pod<uint64_t>();
    LOWBIT_CHECK(size <= r.remaining(), path, ": entry '", b.name, "' is truncated");
    b.bytes.resize(size);
    r.bytes(b.bytes.data(), size);
    c.blobs.push_back(std::move(b));
  }
  LOWBIT_CHECK(r.remaining() == 0, path, ": ", r.remaining(),
               " unexpected bytes after the last entry");
  return c;
}

}  // namespace lowbit
