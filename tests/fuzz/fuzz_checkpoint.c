/* fuzz_checkpoint.c: libFuzzer target for checkpoint parsing. The harness fixes up the trailing
 * CRC-32 so that mutations reach the header and size checks behind it; small valid models are
 * then loaded into a real Gan. */
#include "fuzz_common.h"
#include "../../src/io/checkpoint.h"

#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    if (n < 20 || n > (1 << 22)) return 0;
    unsigned char *buf = malloc(n);
    memcpy(buf, data, n);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(n - 4));
    memcpy(buf + n - 4, &crc, 4);
    char path[64], err[512];
    int fd;
    if (fuzz_as_file(buf, n, path, sizeof path, &fd) == 0) {
        CheckpointMeta m;
        if (checkpoint_read_meta(path, &m, err, sizeof err) == 0 && m.mc.size <= 64 && m.mc.gf <= 8 && m.mc.df <= 8 &&
            m.mc.nz <= 64 && m.batch <= 8) {
            Backend *be = backend_create("cpu-blas", 1);
            Gan g;
            gan_init(&g, be, &m.mc, &m.tc, m.batch, 1);
            checkpoint_load(path, &g, &m, err, sizeof err);
            gan_free(&g);
            be->destroy(be);
        }
        close(fd);
    }
    free(buf);
    return 0;
}
