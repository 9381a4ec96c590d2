// Peak memory of inference at batch 1: lowbit's float inference beside the integer runtime, on zoo
// models quantized as lowbit-quantize leaves them. Each is measured in a process of its own, forked
// from this one before it has built anything: the process loads its model (the float model built in
// memory; the runtime's .lbm read from a file, as lowbit-infer does) and runs `--images` images one
// at a time. Two measures of it:
// - the peak of the bytes it holds from malloc (every allocation in the process, libraries'
//   included, counted by the malloc below): weights, activations and buffers. It leaves out what
//   OpenBLAS maps directly (its GEMM buffers), so it understates float inference;
// - its peak resident set (ru_maxrss), beside that of a process that does nothing: the pages of
//   code it ran count there too.
// Random weights and images: memory does not depend on them.
//   peak_memory [--threads 2] [--bits 4] [--images 20] [--models lenet5 resnet20 resnet18]
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/zoo_setup.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"

using namespace lowbit;

// malloc and its family, counting the bytes held (malloc_usable_size of each block) and their peak;
// glibc's own functions do the work.
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* p);
}

namespace {

std::atomic<int64_t> heap_held{0}, heap_peak{0};

void* held(void* p) {
  if (p) {
    const int64_t now = heap_held += static_cast<int64_t>(malloc_usable_size(p));
    int64_t peak = heap_peak.load();
    while (now > peak && !heap_peak.compare_exchange_weak(peak, now)) {
    }
  }
  return p;
}

void released(void* p) {
  if (p) heap_held -= static_cast<int64_t>(malloc_usable_size(p));
}

}  // namespace

extern "C" {
void* malloc(size_t size) { return held(__libc_malloc(size)); }
void* calloc(size_t count, size_t size) { return held(__libc_calloc(count, size)); }
void* realloc(void* p, size_t size) {
  released(p);
  return held(__libc_realloc(p, size));
}
void* memalign(size_t alignment, size_t size) { return held(__libc_memalign(alignment, size)); }
void* aligned_alloc(size_t alignment, size_t size) {
  return held(__libc_memalign(alignment, size));
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  void* p = held(__libc_memalign(alignment, size));
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) {
  released(p);
  __libc_free(p);
}
}

namespace {

struct Peaks {
  double heap = 0, resident = 0;  // bytes
};

// Runs `work` in a child process: the peak of its malloc'd bytes above what it held at the start,
// and its peak resident set (exits on a failed child).
Peaks child_peaks(const std::function<void()>& work) {
  std::fflush(stdout);
  int pipe_ends[2];
  if (pipe(pipe_ends) != 0) {
    std::perror("peak_memory: pipe");
    std::exit(1);
  }
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("peak_memory: fork");
    std::exit(1);
  }
  if (pid == 0) {
    close(pipe_ends[0]);
    const int64_t start = heap_held.load();
    heap_peak = start;
    try {
      work();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peak_memory: %s\n", e.what());
      _exit(1);
    }
    const int64_t peak = heap_peak.load() - start;
    _exit(write(pipe_ends[1], &peak, sizeof peak) == sizeof peak ? 0 : 1);
  }
  close(pipe_ends[1]);
  int64_t heap = 0;
  const bool got = read(pipe_ends[0], &heap, sizeof heap) == sizeof heap;
  close(pipe_ends[0]);
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      !got) {
    std::fprintf(stderr, "peak_memory: a measuring process failed\n");
    std::exit(1);
  }
  return {static_cast<double>(heap), 1024.0 * static_cast<double>(usage.ru_maxrss)};  // ru: KiB
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"peak_memory: peak memory of float inference and of the runtime at batch 1"};
  int threads = 2, bits = 4, images = 20;
  std::vector<std::string> models{"lenet5", "resnet20", "resnet18"};
  std::string dir = (std::filesystem::temp_directory_path() / "lowbit_peak_memory").string();
  app.add_option("--threads", threads, "threads for every run")->check(CLI::Range(1, 1024));
  app.add_option("--bits", bits, "weight and activation bits of the runtime's model")
      ->check(CLI::Range(2, 8));
  app.add_option("--images", images, "images run one at a time")->check(CLI::Range(1, 100000));
  app.add_option("--models", models, "zoo models to run");
  app.add_option("--dir", dir, "where the packed models are written");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::create_directories(dir);

  const double mb = 1024.0 * 1024.0;
  const Peaks idle = child_peaks([] {});
  std::printf(
      "peak_memory: %d threads, batch 1 (%d images), %d-bit runtime models, OpenBLAS core %s\n"
      "a process that loads the model and runs: its peak malloc'd bytes (heap) and peak resident "
      "set (RSS; a process that does nothing: %.1f MB), in MB\n",
      threads, images, bits, blas_core_name(), idle.resident / mb);
  std::printf("%-9s %8s %11s %13s %7s %10s %12s\n", "model", "file", "float heap", "runtime heap",
              "ratio", "float RSS", "runtime RSS");
  for (const std::string& name : models) {
    const std::string path = (std::filesystem::path(dir) / (name + ".lbm")).string();
    child_peaks([&] {  // the packed model, written by a process of its own
      const bench::Inputs in = bench::random_inputs(name, 16, -2.0f, 2.0f);
      const auto integer = bench::quantized_zoo_model(name, bits, in.images);
      std::ofstream(path, std::ios::binary)
          << runtime::encode_program(bench::runtime_program(*integer, in));
    });
    const Peaks float_peaks = child_peaks([&] {
      set_num_threads(threads);
      const bench::Inputs in = bench::random_inputs(name, 1, -2.0f, 2.0f);
      std::shared_ptr<Module> model = bench::random_zoo_model(name);
      NoGradGuard no_grad;
      for (int i = 0; i < images; ++i) (*model)(in.one);
    });
    const Peaks runtime_peaks = child_peaks([&] {
      const bench::Inputs in = bench::random_inputs(name, 1, -2.0f, 2.0f);
      runtime::Engine engine(runtime::read_program_file(path));
      std::vector<float> logits(10);
      for (int i = 0; i < images; ++i) engine.run(in.one.data(), 1, logits.data(), threads);
    });
    const double file = static_cast<double>(std::filesystem::file_size(path));
    std::printf("%-9s %8.2f %11.2f %13.2f %6.2fx %10.1f %12.1f\n", name.c_str(), file / mb,
                float_peaks.heap / mb, runtime_peaks.heap / mb,
                float_peaks.heap / runtime_peaks.heap, float_peaks.resident / mb,
                runtime_peaks.resident / mb);
  }
  return 0;
}
