// Checkpoint serialization. Layout (little-endian):
//   "LOWBITCK" | u32 version | str config | u64 n_tensors | n x (str name, u32 rank,
//   rank x i64 dims, numel x f32) | u64 n_blobs | n x (str name, u64 size, bytes) | u32 crc32
// where str = u64 length + bytes, and the CRC covers every byte before it.
#include "core/checkpoint.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/input_file.h"
#include "core/printable.h"

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

// The fields after the magic number, read straight from the file. Every size the file declares is
// compared with the bytes left before anything of that size is allocated, so that no file makes
// the reader allocate more than the file holds.
class Reader {
 public:
  Reader(InputFile& file, uint64_t end) : file_(file), end_(end) {}
  uint64_t remaining() const { return end_ - file_.position(); }
  void bytes(void* p, size_t n, const std::string& field) {
    LOWBIT_CHECK(n <= remaining(), file_.path(), ": truncated: ", field, " needs ", n,
                 " bytes at byte ", file_.position(), ", ", remaining(), " are left");
    file_.read(p, n);
  }
  template <class T>
  T pod(const std::string& field) {
    T v;
    bytes(&v, sizeof v, field);
    return v;
  }
  std::string str(const std::string& field) {
    const uint64_t n = pod<uint64_t>(field + "'s length");
    LOWBIT_CHECK(n <= remaining(), file_.path(), ": truncated: ", field, " of ", n,
                 " bytes at byte ", file_.position(), ", ", remaining(), " are left");
    std::string s(static_cast<size_t>(n), '\0');
    file_.read(s.data(), s.size());
    return s;
  }

 private:
  InputFile& file_;
  uint64_t end_;
};

uLong crc_update(uLong crc, const uint8_t* p, size_t n) {
  // zlib takes uInt lengths: feed large buffers in pieces.
  while (n > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, piece);
    p += piece;
    n -= piece;
  }
  return crc;
}

uint32_t crc_of(const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(crc_update(crc32(0L, Z_NULL, 0), p, n));
}

// The CRC of the file's first n bytes, read in pieces: checking a file costs no memory of its size.
uint32_t file_crc(InputFile& file, uint64_t n) {
  std::vector<uint8_t> piece(std::min<uint64_t>(n, 1 << 20));
  uLong crc = crc32(0L, Z_NULL, 0);
  file.seek(0);
  for (uint64_t done = 0; done < n;) {
    const size_t size = static_cast<size_t>(std::min<uint64_t>(piece.size(), n - done));
    file.read(piece.data(), size);
    crc = crc_update(crc, piece.data(), size);
    done += size;
  }
  return static_cast<uint32_t>(crc);
}

// The smallest checkpoint: magic, version, an empty configuration, no tensors, no blobs, the CRC.
constexpr uint64_t kMinBytes = sizeof kMagic + 4 + 8 + 8 + 8 + 4;
// The fewest bytes a tensor (name length, rank) and a blob (name length, size) take.
constexpr uint64_t kMinTensorBytes = 8 + 4, kMinBlobBytes = 8 + 8;

// "(3, 18446744073709551615)": dimensions as stored, unsigned, so that a huge one reads as the
// number it is rather than as a negative size.
std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

NamedTensor read_tensor(Reader& r, const std::string& path, uint64_t index) {
  NamedTensor t;
  t.name = r.str(concat("the name of tensor ", index));
  const std::string field = concat("tensor '", printable(t.name), "'");
  const uint32_t rank = r.pod<uint32_t>(field + "'s rank");
  LOWBIT_CHECK(rank <= 8, path, ": ", field, " has rank ", rank, ", expected at most 8");
  std::vector<uint64_t> dims(rank);
  for (auto& d : dims) d = r.pod<uint64_t>(field + "'s dimensions");
  // The element count, saturated: compared with the bytes left, it refuses any size the file
  // cannot hold, overflowing products included.
  uint64_t numel = 1;
  bool fits = true;
  for (uint64_t d : dims) {
    fits = fits && d <= static_cast<uint64_t>(INT64_MAX);
    if (numel != 0 && d > UINT64_MAX / numel)
      numel = UINT64_MAX;
    else
      numel *= d;
  }
  LOWBIT_CHECK(fits && numel <= r.remaining() / sizeof(float), path, ": ", field, " of shape ",
               dims_text(dims), " needs more bytes than the ", r.remaining(), " left in the file");
  t.tensor = Tensor::empty(Shape(std::vector<int64_t>(dims.begin(), dims.end())));
  r.bytes(t.tensor.data(), sizeof(float) * static_cast<size_t>(numel), field + "'s values");
  // No tensor lowbit writes (weights, BN statistics, optimizer moments, thresholds) is ever NaN or
  // infinite; one that is would run on, printing "loss nan", and be saved again.
  const float* values = t.tensor.data();
  for (uint64_t i = 0; i < numel; ++i) {
    LOWBIT_CHECK(std::isfinite(values[i]), path, ": ", field, " holds ", values[i], " at element ",
                 i, "; expected finite values");
  }
  return t;
}

NamedBlob read_blob(Reader& r, const std::string& path, uint64_t index) {
  NamedBlob b;
  b.name = r.str(concat("the name of entry ", index));
  const std::string field = concat("entry '", printable(b.name), "'");
  const uint64_t size = r.pod<uint64_t>(field + "'s size");
  LOWBIT_CHECK(size <= r.remaining(), path, ": ", field, " of ", size,
               " bytes is truncated: ", r.remaining(), " bytes are left in the file");
  b.bytes.resize(static_cast<size_t>(size));
  r.bytes(b.bytes.data(), b.bytes.size(), field);
  return b;
}

// The magic number and the size before anything else, then the checksum over the whole file,
// then the fields.
Checkpoint read_checkpoint(const std::string& path) {
  InputFile file(path, "a lowbit checkpoint");
  char magic[sizeof kMagic] = {};
  const size_t got = file.read_some(magic, sizeof magic);
  LOWBIT_CHECK(got > 0, path, ": empty file (0 bytes), expected a lowbit checkpoint");
  LOWBIT_CHECK(std::memcmp(magic, kMagic, got) == 0, path,
               ": not a lowbit checkpoint (magic number LOWBITCK missing)");
  LOWBIT_CHECK(file.size() >= kMinBytes, path, ": truncated: ", file.size(),
               " bytes, a lowbit checkpoint has at least ", kMinBytes,
               " (its header, counts and checksum)");
  const uint64_t end = file.size() - 4;
  const uint32_t crc = file_crc(file, end);
  uint32_t stored_crc;
  file.read(&stored_crc, sizeof stored_crc);
  LOWBIT_CHECK(crc == stored_crc, path, ": checksum mismatch (the file is corrupt or truncated)");

  file.seek(sizeof kMagic);
  Reader r(file, end);
  const uint32_t version = r.pod<uint32_t>("the version");
  LOWBIT_CHECK(version == kCheckpointVersion, path, ": checkpoint format version ", version,
               ", expected ", kCheckpointVersion);
  Checkpoint c;
  c.config = r.str("the configuration");
  const uint64_t n_tensors = r.pod<uint64_t>("the tensor count");
  LOWBIT_CHECK(n_tensors <= r.remaining() / kMinTensorBytes, path, ": declares ", n_tensors,
               " tensors, more than the ", r.remaining(), " bytes left in the file can hold");
  for (uint64_t i = 0; i < n_tensors; ++i) c.tensors.push_back(read_tensor(r, path, i));
  const uint64_t n_blobs = r.pod<uint64_t>("the entry count");
  LOWBIT_CHECK(n_blobs <= r.remaining() / kMinBlobBytes, path, ": declares ", n_blobs,
               " entries, more than the ", r.remaining(), " bytes left in the file can hold");
  for (uint64_t i = 0; i < n_blobs; ++i) c.blobs.push_back(read_blob(r, path, i));
  LOWBIT_CHECK(r.remaining() == 0, path, ": ", r.remaining(),
               " unexpected bytes after the last entry");
  return c;
}

}  // namespace

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return t.tensor;
  }
  throw Error(concat("checkpoint has no tensor '", printable(name), "'"));
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
  throw Error(concat("checkpoint has no entry '", printable(name), "'"));
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
  try {
    return read_checkpoint(path);
  } catch (const std::bad_alloc&) {  // every size fits the file: only a large, whole file gets here
    throw Error(concat(path, ": out of memory while reading the checkpoint"));
  }
}

}  // namespace lowbit
