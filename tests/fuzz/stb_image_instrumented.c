// stb_image's implementation, from the header Debian's libstb-dev ships, for the image_folder fuzz
// target only: compiled here it carries libFuzzer's coverage instrumentation and the sanitizers'
// checks, which libstb.so has not. Its definitions take the place of the shared library's.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
