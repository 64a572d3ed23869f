/* algo_pins.h: the file behind DCGAN_CUDA_ALGOS, where the CUDA backend keeps the convolution
 * algorithms it chose, so that later runs take the same ones (the choice is by timing, and two
 * processes that choose apart part by rounding from the first step). One line per choice:
 * "PIN_KEYS numbers : PIN_VALUES numbers" (the shape, precision and direction, then what was
 * chosen); the first line with a key wins. Host C, header only, shared by src/backends/cuda.cu and
 * its test on the CPU (tests/test_cuda.c). */
#ifndef DCGAN_ALGO_PINS_H
#define DCGAN_ALGO_PINS_H

#include <stdio.h>
#include <string.h>

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

/* Appends the line of (key, val) to the file at path in one write. Returns 0, or -1 (errno says why). */
static int pins_append(const char *path, const long key[PIN_KEYS], const long val[PIN_VALUES]) {
    char line[512];
    int k = 0;
    for (int i = 0; i < PIN_KEYS; i++) k += snprintf(line + k, sizeof line - k, "%ld ", key[i]);
    k += snprintf(line + k, sizeof line - k, ":");
    for (int i = 0; i < PIN_VALUES; i++) k += snprintf(line + k, sizeof line - k, " %ld", val[i]);
    k += snprintf(line + k, sizeof line - k, "\n");
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    setvbuf(f, NULL, _IOFBF, sizeof line); /* one write of the whole line: O_APPEND keeps lines from two writers whole */
    const int ok = fputs(line, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#endif
