// What the fuzz targets share: a scratch folder of the process's own for the files their readers
// take, and the one verdict on how a reader ended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "tests/fuzz/fuzz_targets.h"

namespace lowbit::fuzz {

// An empty folder for one target's files: <scratch>/<name>, emptied on every call so that no file
// of an earlier input is seen by the next. <scratch> is $TMPDIR/lowbit-fuzz-<pid> (scripts/fuzz.sh
// points TMPDIR at /dev/shm), removed when the process exits normally.
std::string fresh_folder(const std::string& name);

// Writes size bytes to path (its folder must exist).
void write_file(const std::string& path, const uint8_t* data, size_t size);

// The bytes as a gzip file.
std::vector<uint8_t> gzip(const uint8_t* data, size_t size);

// The verdict on a lowbit::Error: its message must be one non-empty line and, when `name` is not
// empty, name it (the file or folder read); otherwise std::logic_error, which fails the replay test
// and crashes the fuzzer like any other escaping exception.
void check_refusal(const Error& error, const std::string& name);

// Runs read(): kRead when it returns, kRefused when it throws a lowbit::Error check_refusal
// accepts.
template <class Read>
Outcome read_or_refuse(const std::string& name, Read&& read) {
  try {
    read();
    return Outcome::kRead;
  } catch (const Error& e) {
    check_refusal(e, name);
    return Outcome::kRefused;
  }
}

}  // namespace lowbit::fuzz
