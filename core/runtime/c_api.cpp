// The C API of core/runtime/lowbit_runtime.h over the Engine: C++ exceptions stop here and become
// a return value and a message.
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/runtime/engine.h"
#include "core/runtime/lbm_format.h"
#include "core/runtime/lowbit_runtime.h"

struct lowbit_model {
  std::unique_ptr<lowbit::runtime::Engine> engine;
  std::string kernel;
  std::vector<float> batch;  // run_pixels' normalized images, reused from call to call
};

namespace {

thread_local std::string last_error;

template <class F>
int guarded(F&& body) {
  try {
    body();
    last_error.clear();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown error";
  }
  return -1;
}

}  // namespace

extern "C" {

lowbit_model* lowbit_model_load(const char* path) {
  std::unique_ptr<lowbit_model> model;
  const int status = guarded([&] {
    LOWBIT_CHECK(path != nullptr, "lowbit_model_load: null path");
    auto engine =
        std::make_unique<lowbit::runtime::Engine>(lowbit::runtime::read_program_file(path));
    model = std::make_unique<lowbit_model>();
    model->kernel = lowbit::runtime::kernel_name(engine->kernel());
    model->engine = std::move(engine);
  });
  return status == 0 ? model.release() : nullptr;
}

void lowbit_model_free(lowbit_model* model) { delete model; }

const char* lowbit_last_error(void) { return last_error.c_str(); }

int lowbit_model_input_dims(const lowbit_model* model, int64_t dims[3]) {
  const auto& input = model->engine->info().input_dims;
  for (size_t k = 0; k < input.size() && k < 3; ++k) dims[k] = input[k];
  return static_cast<int>(input.size());
}

int64_t lowbit_model_num_classes(const lowbit_model* model) {
  return model->engine->info().num_classes;
}

const char* lowbit_model_class_name(const lowbit_model* model, int64_t k) {
  const auto& names = model->engine->info().class_names;
  return k >= 0 && k < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(k)].c_str()
                                                          : "";
}

const char* lowbit_model_metadata(const lowbit_model* model) {
  return model->engine->info().metadata.c_str();
}

const char* lowbit_model_kernel(const lowbit_model* model) { return model->kernel.c_str(); }

int lowbit_model_run(lowbit_model* model, const float* images, int64_t n, float* logits,
                     int threads) {
  return guarded([&] {
    LOWBIT_CHECK(model && images && logits && n >= 0 && threads >= 0,
                 "lowbit_model_run: a null pointer or a negative count");
    model->engine->run(images, n, logits, threads);
  });
}

int lowbit_model_run_pixels(lowbit_model* model, const uint8_t* pixels, int64_t n, float* logits,
                            int threads) {
  return guarded([&] {
    LOWBIT_CHECK(model && pixels && logits && n >= 0 && threads >= 0,
                 "lowbit_model_run_pixels: a null pointer or a negative count");
    const lowbit::runtime::ModelInfo& info = model->engine->info();
    LOWBIT_CHECK(info.input_dims.size() == 3 && !info.mean.empty(),
                 "lowbit_model_run_pixels: the model takes no images with a normalization");
    const int64_t c = info.input_dims[0], plane = info.input_dims[1] * info.input_dims[2];
    model->batch.resize(static_cast<size_t>(n * c * plane));
    for (int64_t ch = 0; ch < c; ++ch) {
      // x = p scale + shift, scale = 1 / (255 s), shift = -m / s: the data loader's arithmetic
      // (data/augment.cpp), so that a decoded image gives the floats lowbit-eval would.
      const float s = info.stddev[static_cast<size_t>(ch)];
      const float scale = 1.0f / (255.0f * s), shift = -info.mean[static_cast<size_t>(ch)] / s;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < plane; ++q)
          model->batch[static_cast<size_t>((i * c + ch) * plane + q)] =
              static_cast<float>(pixels[(i * plane + q) * c + ch]) * scale + shift;
    }
    model->engine->run(model->batch.data(), n, logits, threads);
  });
}

}  // extern "C"
