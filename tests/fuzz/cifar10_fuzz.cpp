// Fuzz target: a CIFAR-10 binary batch (data/cifar10.h load_cifar10_binary). The bytes are the test
// split's test_batch.bin.
#include "data/cifar10.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome cifar10(const uint8_t* data, size_t size) {
  const std::string folder = fresh_folder("cifar10");
  write_file(folder + "/test_batch.bin", data, size);
  return read_or_refuse(folder, [&] { (void)load_cifar10_binary(folder, /*train=*/false); });
}

}  // namespace lowbit::fuzz
