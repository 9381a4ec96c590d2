// Writing a file so that a crash never leaves it half-written: the bytes go to "<path>.tmp" in the
// same directory, are flushed to disk (fsync), and the temporary file is renamed over `path`. A
// reader sees the old file or the new one, never a mix.
#pragma once

#include <cstddef>
#include <string>

namespace lowbit {

// Throws lowbit::Error naming the file when it cannot be opened, written, flushed or renamed; the
// temporary file is removed then and `path` keeps its old contents.
void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace lowbit
