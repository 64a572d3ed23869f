/* util.h: error reporting, checked allocation and small helpers shared by every part of dcgan.
 *
 * Errors: a user mistake ends the program through die() with one line on stderr and exit status 1.
 * An internal invariant that fails ends it through DCGAN_CHECK with file:line, also status 1 (never abort()). */
#ifndef DCGAN_UTIL_H
#define DCGAN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Prints "dcgan: <message>" and exits with status 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Internal consistency check that stays on in release builds. */
#define DCGAN_CHECK(cond, ...) \
    do { if (!(cond)) die_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)
void die_at(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

void *xmalloc(size_t bytes);            /* dies with a clear message when memory runs out */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t bytes);
char *xstrdup(const char *s);

/* A growing byte buffer: files built in memory before one atomic write. bytebuf_reserve makes room
 * for `more` bytes past n (and one more, kept 0, so text stays a C string) and returns where they go;
 * the caller adds what it wrote to n. */
typedef struct { uint8_t *p; size_t n, cap; } ByteBuf;
void *bytebuf_reserve(ByteBuf *b, size_t more);
void bytebuf_append(ByteBuf *b, const void *data, size_t n);
void bytebuf_free(ByteBuf *b);

double now_seconds(void);               /* monotonic clock */
double wall_seconds(void);              /* seconds since 1970 */
double peak_rss_mb(void);               /* peak resident set size of this process, in MB */

/* An on/off environment switch: unset (or empty) gives `unset`, "1" 1, "0" 0; anything else ends the
 * program with one line, "NAME=VALUE is unknown; <choices> or leave it unset" (choices says what
 * 1 and 0 mean, e.g. "use 1 (...), 0 (...)"). */
int env_switch(const char *name, int unset, const char *choices);

/* Parses a whole decimal integer / float; returns 0 on success, -1 if s is not entirely a number. */
int parse_long(const char *s, long *out);
int parse_double(const char *s, double *out);

#endif
