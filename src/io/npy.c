/* npy.c: .npy float32 I/O (see npy.h). */
#include "npy.h"
#include "fileio.h"
#include "../core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int npy_write_f32(const char *path, const float *data, const int *shape, int ndim, char *err, size_t errlen) {
    char dict[256], dims[128] = "";
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        char d[24];
        snprintf(d, sizeof d, "%d%s", shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
        strncat(dims, d, sizeof dims - strlen(dims) - 1);
        count *= (size_t)shape[i];
    }
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    AtomicFile a;
    if (atomic_open(&a, path, err, errlen) != 0) return -1;
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    unsigned short hl = (unsigned short)(len + pad + 1);
    head[8] = hl & 255;
    head[9] = hl >> 8;
    atomic_write(&a, head, 10);
    atomic_write(&a, dict, (size_t)len);
    for (int i = 0; i < pad; i++) atomic_write(&a, " ", 1);
    atomic_write(&a, "\n", 1);
    atomic_write(&a, data, count * sizeof(float));
    return atomic_commit(&a, err, errlen);
}

int npy_read_f32(const char *path, float **data, int *shape, int *ndim, char *err, size_t errlen) {
    size_t len;
    unsigned char *buf = read_file(path, &len, 1ull << 34);
    if (!buf) { snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno)); return -1; }
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) { snprintf(err, errlen, "%s is not a .npy file", path); goto fail; }
    size_t hl, off;
    if (buf[6] == 1) { hl = buf[8] | (size_t)buf[9] << 8; off = 10; }
    else if (buf[6] == 2 || buf[6] == 3) {
        if (len < 12) { snprintf(err, errlen, "%s is truncated", path); goto fail; }
        hl = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else { snprintf(err, errlen, "%s: unsupported .npy version %d", path, buf[6]); goto fail; }
    if (off + hl > len) { snprintf(err, errlen, "%s is truncated", path); goto fail; }
    char head[4096];
    size_t n = hl < sizeof head - 1 ? hl : sizeof head - 1;
    memcpy(head, buf + off, n);
    head[n] = 0;
    if (!strstr(head, "'descr': '<f4'") || strstr(head, "'fortran_order': True")) {
        snprintf(err, errlen, "%s must hold little-endian float32 in C order", path);
        goto fail;
    }
    char *sp = strstr(head, "'shape': (");
    if (!sp) { snprintf(err, errlen, "%s has no shape", path); goto fail; }
    sp += 10;
    *ndim = 0;
    size_t count = 1;
    while (*sp && *sp != ')') {
        char *end;
        long v = strtol(sp, &end, 10);
        if (end == sp) { sp++; continue; }
        if (*ndim == 4 || v < 0 || v > (1l << 30)) { snprintf(err, errlen, "%s has an unsupported shape", path); goto fail; }
        shape[(*ndim)++] = (int)v;
        count *= (size_t)v;
        sp = end;
    }
    if (*ndim == 0 || off + hl + count * 4 != len) { snprintf(err, errlen, "%s: data size does not match its shape", path); goto fail; }
    *data = xmalloc(count * sizeof(float) + 1);
    memcpy(*data, buf + off + hl, count * sizeof(float));
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}
