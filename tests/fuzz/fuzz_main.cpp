// libFuzzer's entry point for one target, chosen at compile time (-DLOWBIT_FUZZ_TARGET=checkpoint):
// the fuzz build compiles this file once per target (tests/fuzz/CMakeLists.txt).
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exception left uncaught would end in std::terminate, which libFuzzer reports as a crash
  // without the exception's type and message; they are printed first.
  try {
    (void)lowbit::fuzz::LOWBIT_FUZZ_TARGET(data, size);
  } catch (const std::exception& e) {
    char* type = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, nullptr);
    std::fprintf(stderr, "fuzz: %s escaped the reader: %s\n", type ? type : typeid(e).name(),
                 e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: an exception of unknown type escaped the reader\n");
    std::abort();
  }
  return 0;
}
