/* A C program that embeds the integer runtime as a user's would: one header, one library
 * (liblowbit_runtime). It runs a packed model on raw float32 images and prints each image's logits
 * on a line; tests/lowbit_pack_test.cpp compares them with lowbit's integer-only model.
 *   runtime_embed MODEL.lbm IMAGES.f32 */
#include <stdio.h>
#include <stdlib.h>

#include "lowbit_runtime.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: runtime_embed MODEL.lbm IMAGES.f32\n");
    return 2;
  }
  lowbit_model* model = lowbit_model_load(argv[1]);
  if (!model) {
    fprintf(stderr, "runtime_embed: %s\n", lowbit_last_error());
    return 2;
  }
  int64_t dims[3] = {1, 1, 1};
  const int rank = lowbit_model_input_dims(model, dims);
  int64_t size = 1;
  for (int k = 0; k < rank; ++k) size *= dims[k];
  const int64_t classes = lowbit_model_num_classes(model);

  FILE* file = fopen(argv[2], "rb");
  if (!file) {
    fprintf(stderr, "runtime_embed: %s: cannot open\n", argv[2]);
    lowbit_model_free(model);
    return 2;
  }
  fseek(file, 0, SEEK_END);
  const long bytes = ftell(file);
  fseek(file, 0, SEEK_SET);
  const int64_t n = bytes / (long)(size * sizeof(float));
  float* images = malloc((size_t)(n * size) * sizeof(float));
  float* logits = malloc((size_t)(n * classes) * sizeof(float));
  const size_t read = fread(images, sizeof(float), (size_t)(n * size), file);
  fclose(file);
  int status = 0;
  if (read != (size_t)(n * size) || lowbit_model_run(model, images, n, logits, 1) != 0) {
    fprintf(stderr, "runtime_embed: %s\n", read != (size_t)(n * size) ? "short read" : lowbit_last_error());
    status = 2;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < classes; ++k)
        printf("%s%.9g", k ? " " : "", (double)logits[i * classes + k]);
      printf("\n");
    }
    fprintf(stderr, "%lld images, %s kernel, top class of the first: %s\n", (long long)n,
            lowbit_model_kernel(model), n > 0 ? lowbit_model_class_name(model, 0) : "-");
  }
  free(images);
  free(logits);
  lowbit_model_free(model);
  return status;
}
