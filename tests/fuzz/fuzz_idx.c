/* fuzz_idx.c: libFuzzer target for the IDX reader (raw and gzip). */
#include "fuzz_common.h"
#include "../../src/data/dataset.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    char path[64], err[512];
    int fd;
    if (fuzz_as_file(data, n, path, sizeof path, &fd) != 0) return 0;
    int dims[3];
    unsigned char *out;
    for (int want = 1; want <= 3; want += 2)
        if (idx_read(path, want, dims, &out, err, sizeof err) == 0) free(out);
    close(fd);
    return 0;
}
