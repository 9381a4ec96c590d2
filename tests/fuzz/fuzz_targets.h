// The fuzz targets: one per reader of files lowbit did not write. Each takes a fuzzer's bytes, puts
// them where its reader looks for them (a file in a scratch folder, fuzz_support.h) and reads them.
// A lowbit::Error of one line is the answer expected to bad bytes; anything else leaves the target
// (another exception, a sanitizer report, a crash) and is a finding. fuzz_main.cpp makes each a
// libFuzzer program (the LOWBIT_FUZZ build); tests/fuzz_replay_test.cpp replays the committed
// corpora (tests/fuzz/corpus/<name>/) in the ordinary build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lowbit::fuzz {

enum class Outcome {
  kRead,     // the reader returned
  kRefused,  // it threw lowbit::Error (or the bytes never reached it: JSON that does not parse)
};

Outcome checkpoint(const uint8_t* data, size_t size);           // core/checkpoint.h
Outcome idx(const uint8_t* data, size_t size);                  // data/idx.h, plain and gzip
Outcome cifar10(const uint8_t* data, size_t size);              // data/cifar10.h
Outcome image_folder(const uint8_t* data, size_t size);         // data/image_folder.h
Outcome svhn(const uint8_t* data, size_t size);                 // data/svhn.h
Outcome train_config(const uint8_t* data, size_t size);         // apps/train/train_config.h
Outcome quantize_config(const uint8_t* data, size_t size);      // apps/fat/quantize_config.h
Outcome training_checkpoint(const uint8_t* data, size_t size);  // apps/train/training_checkpoint.h
Outcome lbm(const uint8_t* data, size_t size);                  // core/runtime/lbm_format.h

}  // namespace lowbit::fuzz
