/* fileio.c: whole-file reads, atomic writes and folder creation (see fileio.h). */
#include "fileio.h"
#include "../core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint8_t *read_file(const char *path, size_t *len, unsigned long long max_bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = xmalloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static void fsync_dir_of(const char *path) {
    char copy[4200];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int atomic_open(AtomicFile *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void atomic_write(AtomicFile *a, const void *data, size_t len) {
    if (a->failed || !len) return;
    if (fwrite(data, 1, len, a->f) != len) a->failed = errno ? errno : EIO;
}

void atomic_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}

int check_output_file(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "cannot write %s: it is a folder; give a file name", path);
        return -1;
    }
    AtomicFile a;
    if (atomic_open(&a, path, err, errlen) != 0) return -1;
    atomic_abort(&a);
    return 0;
}

int atomic_commit(AtomicFile *a, char *err, size_t errlen) {
    int e = a->failed;
    if (!e && fflush(a->f) != 0) e = errno;
    if (!e && fsync(fileno(a->f)) != 0) e = errno;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    if (!e && rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        unlink(a->tmp);
        snprintf(err, errlen, "cannot write %s: %s", a->path, strerror(e));
        return -1;
    }
    fsync_dir_of(a->path);
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    AtomicFile a;
    if (atomic_open(&a, path, err, errlen) != 0) return -1;
    atomic_write(&a, data, len);
    return atomic_commit(&a, err, errlen);
}

int mkdir_p(const char *path) {
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    size_t n = strlen(buf);
    if (n == 0) return -1;
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}
