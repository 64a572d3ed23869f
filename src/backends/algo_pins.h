/* algo_pins.h: the file behind DCGAN_CUDA_ALGOS, where the CUDA backend keeps the convolution
 * algorithms it chose, so that later runs take the same ones (the choice is by timing, and two
 * processes that choose apart part by rounding from the first step). One line per choice:
 * "PIN_KEYS numbers : PIN_VALUES numbers" (the shape, precision and direction, then what was
 * chosen); the first line with a key wins. Written whole each time (a temporary file renamed).
 * Host C, header only, shared by src/backends/cuda.cu and its test on the CPU (tests/test_cuda.c). */
#ifndef DCGAN_ALGO_PINS_H
#define DCGAN_ALGO_PINS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { PIN_KEYS = 12, PIN_VALUES = 5 };

/* Looks key up in the file at path. Returns 1 with the line's values in val, 0 where no line has
 * the key (or there is no file yet), -1 where line *bad_line is not such a line. */
static int pins_find(const char *path, const long key[PIN_KEYS], long val[PIN_VALUES], int *bad_line) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int no = 0, found = 0;
    *bad_line = 0;
    while (!found && fgets(line, sizeof line, f)) {
        no++;
        long v[PIN_KEYS + PIN_VALUES];
        int used = 0;
        const int n = sscanf(line, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld : %ld %ld %ld %ld %ld %n", &v[0],
                             &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12],
                             &v[13], &v[14], &v[15], &v[16], &used);
        if (n != PIN_KEYS + PIN_VALUES || line[used] != '\0') { *bad_line = no; break; }
        if (!memcmp(v, key, PIN_KEYS * sizeof(long))) {
            memcpy(val, v + PIN_KEYS, PIN_VALUES * sizeof(long));
            found = 1;
        }
    }
    fclose(f);
    return *bad_line ? -1 : found;
}

/* Adds the line of (key, val) to the file at path: the file's lines and the new one go to a
 * temporary file beside it, which then replaces it, so that the file is always whole (two writers
 * at once can lose a line, which is then timed again, but never tear one). Returns 0, or -1
 * (errno says why). */
static int pins_append(const char *path, const long key[PIN_KEYS], const long val[PIN_VALUES]) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
    FILE *out = fopen(tmp, "w");
    if (!out) return -1;
    int ok = 1;
    FILE *in = fopen(path, "r");
    if (in) {
        char buf[4096];
        size_t n;
        while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
        ok = ok && !ferror(in);
        fclose(in);
    }
    for (int i = 0; ok && i < PIN_KEYS; i++) ok = fprintf(out, "%ld ", key[i]) > 0;
    ok = ok && fputc(':', out) != EOF;
    for (int i = 0; ok && i < PIN_VALUES; i++) ok = fprintf(out, " %ld", val[i]) > 0;
    ok = ok && fputc('\n', out) != EOF && fflush(out) == 0 && fsync(fileno(out)) == 0;
    const int saved = errno;
    if (fclose(out) != 0) ok = 0;
    if (ok && rename(tmp, path) == 0) return 0;
    errno = ok ? errno : saved;
    unlink(tmp);
    return -1;
}

#endif
