/* lowbit's integer runtime: a C API to run a packed model file (.lbm, written by lowbit-pack).
 * Link liblowbit_runtime and include this header; nothing else of lowbit is needed.
 *
 *   lowbit_model* m = lowbit_model_load("model.lbm");
 *   if (!m) { fprintf(stderr, "%s\n", lowbit_last_error()); return 1; }
 *   float logits[10];
 *   lowbit_model_run(m, image, 1, logits, 0);   // image: (C, H, W) floats, normalized
 *   lowbit_model_free(m);
 *
 * Every function that can fail returns NULL or -1 and leaves a one-line message for
 * lowbit_last_error() (per thread). A model may be run from one thread at a time. */
#ifndef LOWBIT_RUNTIME_H
#define LOWBIT_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lowbit_model lowbit_model;

/* Loads and checks a packed model; NULL on failure (a missing, damaged or truncated file, one of
 * another version). The integer kernel is the fastest this CPU runs, or the one named by the
 * environment variable LOWBIT_RUNTIME_KERNEL (vnni, avx2, portable). */
lowbit_model* lowbit_model_load(const char* path);
void lowbit_model_free(lowbit_model* model);
/* The message of the last failure on this thread ("" if none). */
const char* lowbit_last_error(void);

/* One image's shape: writes up to 3 dimensions (C, H, W) and returns how many. */
int lowbit_model_input_dims(const lowbit_model* model, int64_t dims[3]);
int64_t lowbit_model_num_classes(const lowbit_model* model);
/* The name of class k, or "" when the file names none. */
const char* lowbit_model_class_name(const lowbit_model* model, int64_t k);
/* A JSON object: the model, data set and quantization the file was packed from. */
const char* lowbit_model_metadata(const lowbit_model* model);
/* The integer kernel in use: "vnni", "avx2" or "portable". */
const char* lowbit_model_kernel(const lowbit_model* model);

/* logits (n, classes) of n images (n, C, H, W), normalized as the model was trained, on `threads`
 * threads (0: the default). Returns 0, or -1 on failure. */
int lowbit_model_run(lowbit_model* model, const float* images, int64_t n, float* logits,
                     int threads);
/* The same from 8-bit pixels (n, H, W, C) as image decoders give them, normalized with the
 * model's per-channel mean and deviation: x = (p / 255 - mean) / stddev. */
int lowbit_model_run_pixels(lowbit_model* model, const uint8_t* pixels, int64_t n, float* logits,
                            int threads);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_RUNTIME_H */
