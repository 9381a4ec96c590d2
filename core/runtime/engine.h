// The runtime's interpreter: runs an integer program (core/runtime/program.h) on batches of images
// with the integer kernels of core/runtime/int_gemm.h. Its logits equal those of the training
// library's integer-only model (models/transforms/integer_model.h) exactly: every operation
// computes the same integers, only in a faster layout (activations (H, W, C), im2col rows of
// uint8 codes) and order.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/runtime/int_gemm.h"
#include "core/runtime/program.h"

namespace lowbit::runtime {

struct Workspace;
struct PreparedOp;

class Engine {
 public:
  // Checks every value's shape from the input's on (an error names the operation and what did not
  // fit) and packs the weights for `kernel`.
  explicit Engine(Program program, GemmKernel kernel = best_kernel());
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelInfo& info() const { return program_.info; }
  GemmKernel kernel() const { return kernel_; }
  int64_t image_size() const;  // floats per input image
  // Quantized layers, and those that run on the uint8 x int8 GEMM and on the int16 GEMMs (the
  // rest are depthwise convolutions, on their own kernel).
  int64_t quantized_layers() const { return quantized_layers_; }
  int64_t int8_layers() const { return int8_layers_; }
  int64_t int16_layers() const { return int16_layers_; }
  // Of the int16 ones, those on the shift kernel (GemmKernel::kShift: power-of-two codes).
  int64_t shift_layers() const { return shift_layers_; }
  // The buffers an image's activations take (Engine::assign_slots), and how many values there are.
  int64_t activation_buffers() const { return static_cast<int64_t>(slot_size_.size()); }
  int64_t values() const { return program_.num_values; }

  // logits: (n, classes) for images (n, C, H, W), normalized as the model was trained. Images are
  // spread over `threads` OpenMP threads (0: OpenMP's default); a single image spreads its layers'
  // positions instead. Values beyond the fixed-point range are clamped, as the training library's
  // integer model does (saturated_values() counts them).
  void run(const float* images, int64_t n, float* logits, int threads = 0);
  int64_t saturated_values() const { return saturated_; }

 private:
  std::unique_ptr<Workspace> take_workspace();
  void give_back(std::unique_ptr<Workspace> ws);
  void run_image(const float* image, float* logits, Workspace& ws, bool parallel_inside) const;
  // Lets each product or addition whose output is read by one clamp or level map alone run that
  // operation as it writes (PreparedOp::then).
  void absorb_followers();
  // Values whose lifetimes do not overlap share a buffer of the workspace (a slot), from the
  // operation that writes a value to the last that reads it: at batch 1 the engine holds a few
  // activations at a time, not every one.
  void assign_slots();

  Program program_;
  GemmKernel kernel_;
  std::vector<std::vector<int64_t>> value_dims_;  // per value: (C, H, W) stored (H, W, C), or (F)
  std::vector<PreparedOp> prepared_;
  std::vector<int32_t> slot_of_;    // per value: its slot (-1: never written)
  std::vector<int64_t> slot_size_;  // per slot: the most values it holds
  int64_t quantized_layers_ = 0, int8_layers_ = 0, int16_layers_ = 0, shift_layers_ = 0;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Workspace>> pool_;  // reused from call to call
  int64_t saturated_ = 0;
};

}  // namespace lowbit::runtime
