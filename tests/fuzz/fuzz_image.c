/* fuzz_image.c: libFuzzer target for the image decoding path (stb_image through the loader's
 * conversion: compositing, crop, resize, channel conversion). */
#include "../../src/data/dataset.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    static unsigned char out[3 * 32 * 32];
    char why[256];
    DatasetOptions o = {32, 3, 1, {255, 255, 255}, "", 0};
    image_decode_sample(data, n, &o, out, why, sizeof why);
    o.channels = 1;
    o.crop = 0;
    image_decode_sample(data, n, &o, out, why, sizeof why);
    return 0;
}
