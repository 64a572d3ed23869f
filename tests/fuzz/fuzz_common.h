/* fuzz_common.h: helpers for the libFuzzer targets: the input as a file path (memfd). */
#ifndef DCGAN_FUZZ_COMMON_H
#define DCGAN_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes data to an anonymous in-memory file and returns its /proc path in path (fd in *fd). */
static inline int fuzz_as_file(const unsigned char *data, size_t n, char *path, size_t pathlen, int *fd) {
    *fd = memfd_create("dcgan-fuzz", 0);
    if (*fd < 0) return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(*fd, data + off, n - off);
        if (w <= 0) { close(*fd); return -1; }
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", *fd);
    return 0;
}

#endif
