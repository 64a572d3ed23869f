/* fileio.h: whole-file reads, atomic writes (temporary file, fsync, rename, fsync of the folder)
 * and folder creation. Every file dcgan writes goes through write_file_atomic or an AtomicFile,
 * so a crash or a full disk never leaves a half-written file under the final name. */
#ifndef DCGAN_FILEIO_H
#define DCGAN_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads a whole file; NULL (errno set) on failure or when it is larger than max_bytes. */
uint8_t *read_file(const char *path, size_t *len, unsigned long long max_bytes);

/* Writes data to path atomically. Returns 0, or -1 with one line in err. */
int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Streaming atomic write: open a temporary file beside path, write, then commit or abort. */
typedef struct {
    FILE *f;
    char tmp[4200];
    char path[4200];
    int failed;
} AtomicFile;
int atomic_open(AtomicFile *a, const char *path, char *err, size_t errlen);
void atomic_write(AtomicFile *a, const void *data, size_t len);
int atomic_commit(AtomicFile *a, char *err, size_t errlen); /* 0 on success; the temp file is removed on failure */
void atomic_abort(AtomicFile *a);

/* Whether a file can be written at path later (for a command that works a while before it writes):
 * not a folder, and its folder takes a temporary file (made and removed again). Returns 0, or -1
 * with one line in err. */
int check_output_file(const char *path, char *err, size_t errlen);

/* mkdir -p; 0 on success. */
int mkdir_p(const char *path);

#endif
