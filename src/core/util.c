/* util.c: error reporting, checked allocation, clocks and number parsing (see util.h). */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void die(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fputs("dcgan: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "dcgan: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) die("out of memory allocating %.1f MB; try a smaller --batch or --size", bytes / 1048576.0);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory allocating %.1f MB; try a smaller --batch or --size", (double)n * size / 1048576.0);
    return p;
}

void *xrealloc(void *q, size_t bytes) {
    void *p = realloc(q, bytes ? bytes : 1);
    if (!p) die("out of memory allocating %.1f MB", bytes / 1048576.0);
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void *bytebuf_reserve(ByteBuf *b, size_t more) {
    if (b->n + more + 1 > b->cap) {
        b->cap = (b->n + more + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    b->p[b->n + more] = 0;
    return b->p + b->n;
}

void bytebuf_append(ByteBuf *b, const void *data, size_t n) {
    memcpy(bytebuf_reserve(b, n), data, n);
    b->n += n;
    b->p[b->n] = 0;
}

void bytebuf_free(ByteBuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return ru.ru_maxrss / 1024.0; /* Linux reports kilobytes */
}

int parse_long(const char *s, long *out) {
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int env_switch(const char *name, int unset, const char *choices) {
    const char *v = getenv(name);
    if (!v || !*v) return unset;
    if (strcmp(v, "0") && strcmp(v, "1")) die("%s=%s is unknown; %s or leave it unset", name, v, choices);
    return v[0] == '1';
}

int parse_double(const char *s, double *out) {
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}
