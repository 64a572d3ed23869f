/* fuzz_npy.c: libFuzzer target for the .npy reader (dcgan sample --z). */
#include "fuzz_common.h"
#include "../../src/io/npy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    char path[64], err[512];
    int fd;
    if (fuzz_as_file(data, n, path, sizeof path, &fd) != 0) return 0;
    float *out;
    int shape[4], ndim;
    if (npy_read_f32(path, &out, shape, &ndim, err, sizeof err) == 0) free(out);
    close(fd);
    return 0;
}
