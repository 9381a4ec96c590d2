// Fuzz target: an SVHN MATLAB file (data/svhn.h load_svhn_mat, through libmatio). The bytes are the
// .mat file. libmatio is Debian's build, without coverage instrumentation: the fuzzer sees lowbit's
// checks around it (the header, the element walk of check_mat5_complete, the dims and types) but
// steers blind inside matio, whose crashes it still catches.
#include "data/svhn.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome svhn(const uint8_t* data, size_t size) {
  const std::string path = fresh_folder("svhn") + "/test_32x32.mat";
  write_file(path, data, size);
  return read_or_refuse(path, [&] { (void)load_svhn_mat(path); });
}

}  // namespace lowbit::fuzz
