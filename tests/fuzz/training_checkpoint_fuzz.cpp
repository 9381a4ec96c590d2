// Fuzz target: the configuration and progress of a training checkpoint
// (apps/train/training_checkpoint.h read_training_checkpoint, which lowbit-train --resume,
// lowbit-eval and lowbit-report call first). An input is the configuration's JSON text, then a NUL
// byte and the "progress" entry's JSON text (no NUL: no progress entry); the target writes them as
// a well-formed checkpoint, so that every mutation reaches the JSON readers (the checkpoint target
// fuzzes the container itself).
#include <algorithm>

#include "apps/train/training_checkpoint.h"
#include "core/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

namespace lowbit::fuzz {

Outcome training_checkpoint(const uint8_t* data, size_t size) {
  const uint8_t* end = data + size;
  const uint8_t* nul = std::find(data, end, uint8_t{0});
  Checkpoint c;
  c.config.assign(data, nul);
  if (nul != end) c.blobs.push_back({"progress", std::vector<uint8_t>(nul + 1, end)});
  const std::string path = fresh_folder("training_checkpoint") + "/last.ckpt";
  save_checkpoint(path, c);
  return read_or_refuse(path, [&] { (void)read_training_checkpoint(path); });
}

}  // namespace lowbit::fuzz
