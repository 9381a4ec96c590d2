#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace lowbit::fuzz {
namespace fs = std::filesystem;
namespace {

// The process's scratch folder, made on first use and removed at exit.
class Scratch {
 public:
  Scratch() : root_(fs::temp_directory_path() / ("lowbit-fuzz-" + std::to_string(::getpid()))) {
    fs::create_directories(root_);
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
};

}  // namespace

std::string fresh_folder(const std::string& name) {
  static Scratch scratch;
  const fs::path folder = scratch.root() / name;
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder.string();
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) throw std::runtime_error("fuzz: cannot write " + path);
}

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("fuzz: deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&z, size));
  z.next_in = const_cast<uint8_t*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (status != Z_STREAM_END) throw std::runtime_error("fuzz: deflate failed");
  return out;
}

void check_refusal(const Error& error, const std::string& name) {
  const std::string message = error.what();
  if (message.empty()) throw std::logic_error("an error with an empty message");
  if (message.find_first_of("\r\n") != std::string::npos)
    throw std::logic_error("an error message of more than one line: " + message);
  if (!name.empty() && message.find(name) == std::string::npos)
    throw std::logic_error("an error message that does not name " + name + ": " + message);
}

}  // namespace lowbit::fuzz
