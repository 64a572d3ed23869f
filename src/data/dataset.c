/* dataset.c: IDX and image-folder loading, preprocessing and the decoded-set cache (see dataset.h). */
#include "dataset.h"
#include "classes.h"
#include "../core/util.h"
#include "../io/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include <stb_image.h>
#include <stb_image_resize.h>

#define MAX_PIXELS (64ll << 20)  /* refuse images that declare more than 64 megapixels */
#define MAX_SIDE 32768
#define MAX_IMAGES 50000000

/* ------------------------------------------------------------------------------------------------
 * IDX */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

int idx_read(const char *path, int want_dims, int *dims, uint8_t **data, char *err, size_t errlen) {
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) { snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno)); return -1; }
    uint8_t hdr[4 + 4 * 4];
    int got = gzread(f, hdr, 4);
    if (got != 4 || hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != want_dims) {
        gzclose(f);
        snprintf(err, errlen, "%s is not an IDX file of unsigned bytes with %d dimension%s (bad magic number)", path,
                 want_dims, want_dims > 1 ? "s" : "");
        return -1;
    }
    if (gzread(f, hdr + 4, 4 * want_dims) != 4 * want_dims) {
        gzclose(f);
        snprintf(err, errlen, "%s is truncated (header)", path);
        return -1;
    }
    long long total = 1;
    for (int i = 0; i < want_dims; i++) {
        uint32_t d = be32(hdr + 4 + 4 * i);
        if (d == 0 || d > (i == 0 ? MAX_IMAGES : 65536)) {
            gzclose(f);
            snprintf(err, errlen, "%s declares an impossible size %u in dimension %d", path, d, i);
            return -1;
        }
        dims[i] = (int)d;
        total *= d;
    }
    if (total > (8ll << 30)) { gzclose(f); snprintf(err, errlen, "%s declares %lld bytes of data; too large", path, total); return -1; }
    /* grow the buffer as data arrives: a short file that declares a huge size costs nothing */
    size_t cap = (size_t)(total < (64ll << 20) ? total : (64ll << 20));
    uint8_t *buf = xmalloc(cap);
    long long have = 0;
    while (have < total) {
        if ((size_t)have == cap) {
            cap = (size_t)(2 * (long long)cap < total ? 2 * (long long)cap : total);
            buf = xrealloc(buf, cap);
        }
        unsigned chunk = (unsigned)(cap - (size_t)have > (1u << 30) ? (1u << 30) : cap - (size_t)have);
        int r = gzread(f, buf + have, chunk);
        if (r <= 0) break;
        have += r;
    }
    int gzerr = 0;
    gzerror(f, &gzerr);
    gzclose(f);
    if (have != total || (gzerr != Z_OK && gzerr != Z_STREAM_END)) {
        free(buf);
        snprintf(err, errlen, "%s is truncated: %lld of %lld data bytes", path, have, total);
        return -1;
    }
    *data = buf;
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * preprocessing: RGBA8 (w, h) -> (C, S, S) uint8 */

static void to_sample(const uint8_t *rgba, int w, int h, const DatasetOptions *o, uint8_t *out) {
    const int S = o->size, C = o->channels;
    /* composite over the background, to RGB or gray */
    const int inC = C == 1 ? 1 : 3;
    int x0 = 0, y0 = 0, cw = w, ch = h;
    if (o->crop) {
        int side = w < h ? w : h;
        x0 = (w - side) / 2; y0 = (h - side) / 2; cw = ch = side;
    }
    uint8_t *flat = xmalloc((size_t)cw * ch * inC);
    for (int y = 0; y < ch; y++) {
        for (int x = 0; x < cw; x++) {
            const uint8_t *p = rgba + ((size_t)(y + y0) * w + (x + x0)) * 4;
            const int a = p[3];
            int rgb[3];
            for (int k = 0; k < 3; k++) rgb[k] = (p[k] * a + o->background[k] * (255 - a) + 127) / 255;
            uint8_t *q = flat + ((size_t)y * cw + x) * inC;
            if (inC == 1) q[0] = (uint8_t)((rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114 + 500) / 1000);
            else { q[0] = (uint8_t)rgb[0]; q[1] = (uint8_t)rgb[1]; q[2] = (uint8_t)rgb[2]; }
        }
    }
    uint8_t *res = xmalloc((size_t)S * S * inC);
    if (cw == S && ch == S) memcpy(res, flat, (size_t)S * S * inC);
    else if (!stbir_resize_uint8(flat, cw, ch, 0, res, S, S, 0, inC)) die("image resize failed (out of memory?)");
    for (int c = 0; c < C; c++)
        for (int i = 0; i < S * S; i++) out[(size_t)c * S * S + i] = res[(size_t)i * inC + c];
    free(flat);
    free(res);
}

/* gray (w, h) -> (C, S, S), for IDX */
static void gray_to_sample(const uint8_t *g, int w, int h, const DatasetOptions *o, uint8_t *out) {
    const int S = o->size;
    uint8_t *res = xmalloc((size_t)S * S);
    if (w == S && h == S) memcpy(res, g, (size_t)S * S);
    else if (!stbir_resize_uint8(g, w, h, 0, res, S, S, 0, 1)) die("image resize failed (out of memory?)");
    for (int c = 0; c < o->channels; c++) memcpy(out + (size_t)c * S * S, res, (size_t)S * S);
    free(res);
}

/* Binary PNM (P5/P6) goes through this before stb_image 2.27 (Debian 12), which (1) does not notice
 * pixel data cut short and hands back uninitialized pixels, (2) reads 16-bit samples in the host's
 * byte order instead of big-endian, and (3) ignores a maxval other than 255 or 65535. Returns 0 and
 * NULL in *fixed for anything else; 0 and a corrected copy (samples rescaled to the full 8- or
 * 16-bit range, 16-bit ones in host order) in *fixed; -1 when the pixel data is truncated. */
static int pnm_fix(const uint8_t *buf, size_t len, uint8_t **fixed) {
    *fixed = NULL;
    if (len < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '6')) return 0;
    size_t at = 2;
    unsigned long long v[3];
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and # comments */
            while (at < len && (buf[at] == ' ' || buf[at] == '\t' || buf[at] == '\n' || buf[at] == '\r')) at++;
            if (at < len && buf[at] == '#') { while (at < len && buf[at] != '\n') at++; continue; }
            break;
        }
        if (at >= len || buf[at] < '0' || buf[at] > '9') return 0; /* malformed: stb_image refuses it */
        v[k] = 0;
        while (at < len && buf[at] >= '0' && buf[at] <= '9' && v[k] < (1ull << 32)) v[k] = v[k] * 10 + (buf[at++] - '0');
    }
    at++; /* the single whitespace after maxval */
    const unsigned long long maxv = v[2], samples = v[0] * v[1] * (buf[1] == '6' ? 3 : 1);
    if (maxv == 0 || maxv > 65535) return 0; /* stb_image refuses it */
    const int wide = maxv > 255;
    if (at > len || len - at < samples * (wide ? 2 : 1)) return -1;
    if (!wide && maxv == 255) return 0;
    uint8_t *c = xmalloc(len);
    memcpy(c, buf, len);
    for (unsigned long long i = 0; i < samples; i++) {
        if (wide) {
            const unsigned x = (unsigned)buf[at + 2 * i] << 8 | buf[at + 2 * i + 1];
            const unsigned y = x >= maxv ? 65535u : (unsigned)(x * 65535ull / maxv);
            memcpy(c + at + 2 * i, &(uint16_t){(uint16_t)y}, 2);
        } else {
            const unsigned x = buf[at + i];
            c[at + i] = (uint8_t)(x >= maxv ? 255u : x * 255u / (unsigned)maxv);
        }
    }
    *fixed = c;
    return 0;
}

int image_decode_sample(const uint8_t *buf, size_t len, const DatasetOptions *o, uint8_t *out, char *why,
                        size_t whylen) {
    int w, h, comp;
    if (len == 0) { snprintf(why, whylen, "empty file"); return -1; }
    if (len > (size_t)INT32_MAX) { snprintf(why, whylen, "file too large"); return -1; }
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
        snprintf(why, whylen, "not a readable image (%s)", stbi_failure_reason());
        return -1;
    }
    if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE || (long long)w * h > MAX_PIXELS) {
        snprintf(why, whylen, "declared size %dx%d is too large", w, h);
        return -1;
    }
    uint8_t *fixed;
    if (pnm_fix(buf, len, &fixed) != 0) {
        snprintf(why, whylen, "truncated PNM: the pixel data is shorter than %dx%d", w, h);
        return -1;
    }
    if (fixed) buf = fixed;
    /* Decoded in the file's own channel count and expanded to RGBA here: stb_image 2.27 (Debian 12)
     * overreads its buffer when it converts channels of a 16-bit PNM itself (found by fuzz_image). */
    uint8_t *pix = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 0);
    free(fixed);
    if (!pix) {
        snprintf(why, whylen, "cannot decode (%s)", stbi_failure_reason());
        return -1;
    }
    if (comp < 1 || comp > 4) {
        stbi_image_free(pix);
        snprintf(why, whylen, "unsupported channel count %d", comp);
        return -1;
    }
    uint8_t *rgba = xmalloc((size_t)w * h * 4);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const uint8_t *p = pix + i * comp;
        uint8_t *q = rgba + i * 4;
        if (comp <= 2) { q[0] = q[1] = q[2] = p[0]; q[3] = comp == 2 ? p[1] : 255; }
        else { q[0] = p[0]; q[1] = p[1]; q[2] = p[2]; q[3] = comp == 4 ? p[3] : 255; }
    }
    stbi_image_free(pix);
    to_sample(rgba, w, h, o, out);
    free(rgba);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * cache */

typedef struct { uint64_t h; } Hash;
static void hash_bytes(Hash *h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) { h->h ^= b[i]; h->h *= 0x100000001b3ull; }
}
static void hash_str(Hash *h, const char *s) { hash_bytes(h, s, strlen(s) + 1); }
static void hash_stat(Hash *h, const char *path, const struct stat *st) {
    hash_str(h, path);
    int64_t v[3] = {(int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec, (int64_t)st->st_mtim.tv_nsec};
    hash_bytes(h, v, sizeof v);
}

#define CACHE_MAGIC "DCGANDS1"
#define CACHE_VERSION 2u /* 2: class names */

int dataset_cache_dir(char *out, size_t n) {
    const char *env = getenv("DCGAN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env) snprintf(out, n, "%s", env);
    else if (xdg && *xdg) snprintf(out, n, "%s/dcgan", xdg);
    else if (home && *home) snprintf(out, n, "%s/.cache/dcgan", home);
    else return -1;
    if (!*out || mkdir_p(out) != 0) return -1;
    return 0;
}

static int cache_path(const DatasetOptions *o, uint64_t key, char *out, size_t n) {
    const char *dir = o->cache_dir;
    char buf[4096];
    if (!dir) {
        if (dataset_cache_dir(buf, sizeof buf) != 0) return -1;
        dir = buf;
    }
    if (!*dir) return -1;
    if (mkdir_p(dir) != 0) return -1;
    snprintf(out, n, "%s/%016llx.dcache", dir, (unsigned long long)key);
    return 0;
}

static int cache_read(Dataset *ds, const char *path, uint64_t key, const DatasetOptions *o) {
    size_t len;
    uint8_t *buf = read_file(path, &len, 1ull << 36);
    if (!buf) return -1;
    int ok = 0;
    const size_t hdr = 8 + 4 * 8 + 8;
    if (len >= hdr + 4 && !memcmp(buf, CACHE_MAGIC, 8)) {
        uint32_t v[8];
        uint64_t k;
        memcpy(v, buf + 8, sizeof v);
        memcpy(&k, buf + 8 + sizeof v, 8);
        const size_t npix = (size_t)v[1] * v[2] * v[3] * v[3];
        const size_t before_names = hdr + npix + (v[4] ? (size_t)v[1] * 4 : 0) + (size_t)v[6] * 320;
        uint32_t nlen = 0, crc;
        if (len >= before_names + 8) memcpy(&nlen, buf + before_names, 4);
        const size_t need = before_names + 4 + (size_t)nlen + 4;
        if (v[0] == CACHE_VERSION && k == key && (int)v[2] == o->channels && (int)v[3] == o->size &&
            nlen < (1u << 20) && len == need) {
            memcpy(&crc, buf + len - 4, 4);
            uLong c = crc32(0L, Z_NULL, 0);
            size_t off = 0;
            while (off < len - 4) { size_t step = len - 4 - off > (1u << 30) ? (1u << 30) : len - 4 - off; c = crc32(c, buf + off, (uInt)step); off += step; }
            if ((uint32_t)c == crc) {
                ds->n = (int)v[1]; ds->channels = (int)v[2]; ds->size = (int)v[3];
                ds->nclasses = (int)v[5]; ds->skipped = (int)v[7];
                ds->pixels = xmalloc(npix ? npix : 1);
                memcpy(ds->pixels, buf + hdr, npix);
                size_t p = hdr + npix;
                if (v[4]) { ds->labels = xmalloc((size_t)v[1] * 4); memcpy(ds->labels, buf + p, (size_t)v[1] * 4); p += (size_t)v[1] * 4; }
                for (uint32_t i = 0; i < v[6] && i < DATASET_MAX_REPORT; i++) { memcpy(ds->bad[i], buf + p, 320); ds->bad[i][319] = 0; p += 320; }
                p += 4;
                if (nlen) {
                    ds->class_names = xmalloc((size_t)nlen + 1);
                    memcpy(ds->class_names, buf + p, nlen);
                    ds->class_names[nlen] = 0;
                }
                if (ds->labels)
                    for (int i = 0; i < ds->n; i++) ds->unlabelled += ds->labels[i] < 0;
                ds->from_cache = 1;
                ok = 1;
            }
        }
    }
    free(buf);
    return ok ? 0 : -1;
}

static void cache_write(const Dataset *ds, const char *path, uint64_t key) {
    const size_t npix = (size_t)ds->n * ds->channels * ds->size * ds->size;
    const int nbad = ds->skipped < DATASET_MAX_REPORT ? ds->skipped : DATASET_MAX_REPORT;
    const uint32_t nlen = ds->class_names ? (uint32_t)strlen(ds->class_names) : 0;
    const size_t len = 8 + 4 * 8 + 8 + npix + (ds->labels ? (size_t)ds->n * 4 : 0) + (size_t)nbad * 320 + 4 + nlen + 4;
    uint8_t *buf = xcalloc(len, 1);
    uint32_t v[8] = {CACHE_VERSION, (uint32_t)ds->n, (uint32_t)ds->channels, (uint32_t)ds->size,
                     ds->labels != NULL, (uint32_t)ds->nclasses, (uint32_t)nbad, (uint32_t)ds->skipped};
    memcpy(buf, CACHE_MAGIC, 8);
    memcpy(buf + 8, v, sizeof v);
    memcpy(buf + 8 + sizeof v, &key, 8);
    size_t p = 8 + sizeof v + 8;
    memcpy(buf + p, ds->pixels, npix); p += npix;
    if (ds->labels) { memcpy(buf + p, ds->labels, (size_t)ds->n * 4); p += (size_t)ds->n * 4; }
    for (int i = 0; i < nbad; i++) { memcpy(buf + p, ds->bad[i], 320); p += 320; }
    memcpy(buf + p, &nlen, 4); p += 4;
    if (nlen) { memcpy(buf + p, ds->class_names, nlen); p += nlen; }
    uLong c = crc32(0L, Z_NULL, 0);
    size_t off = 0;
    while (off < p) { size_t step = p - off > (1u << 30) ? (1u << 30) : p - off; c = crc32(c, buf + off, (uInt)step); off += step; }
    uint32_t crc = (uint32_t)c;
    memcpy(buf + p, &crc, 4);
    char err[512];
    if (write_file_atomic(path, buf, len, err, sizeof err) != 0) fprintf(stderr, "dcgan: note: not caching the decoded images: %s\n", err);
    free(buf);
}

/* ------------------------------------------------------------------------------------------------
 * IDX data sets */

static int find_idx(const char *dir, const char *stem, char *out, size_t n) {
    const char *suffixes[] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, n, "%s/%s%s", dir, stem, suffixes[i]);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) return 0;
    }
    return -1;
}

static int load_idx(Dataset *ds, const char *images, const char *labels, const DatasetOptions *o, char *err,
                    size_t errlen) {
    struct stat st;
    Hash h = {0xcbf29ce484222325ull};
    hash_str(&h, "idx");
    int v[3] = {o->size, o->channels, o->crop};
    hash_bytes(&h, v, sizeof v);
    if (stat(images, &st) != 0) { snprintf(err, errlen, "cannot read %s: %s", images, strerror(errno)); return -1; }
    hash_stat(&h, images, &st);
    if (labels && stat(labels, &st) == 0) hash_stat(&h, labels, &st);
    char cpath[4200];
    const int cached = cache_path(o, h.h, cpath, sizeof cpath) == 0;
    if (cached && cache_read(ds, cpath, h.h, o) == 0) { snprintf(ds->source, sizeof ds->source, "idx"); return 0; }

    int dims[3];
    uint8_t *raw;
    if (idx_read(images, 3, dims, &raw, err, errlen) != 0) return -1;
    const int n = dims[0], H = dims[1], W = dims[2];
    ds->n = n; ds->channels = o->channels; ds->size = o->size;
    const size_t per = (size_t)o->channels * o->size * o->size;
    ds->pixels = xmalloc((size_t)n * per);
    #pragma omp parallel for schedule(dynamic, 256)
    for (int i = 0; i < n; i++) gray_to_sample(raw + (size_t)i * H * W, W, H, o, ds->pixels + (size_t)i * per);
    free(raw);
    if (labels) {
        int ldims[1];
        uint8_t *lab;
        if (idx_read(labels, 1, ldims, &lab, err, errlen) != 0) return -1;
        if (ldims[0] != n) {
            free(lab);
            snprintf(err, errlen, "%s has %d labels for %d images in %s", labels, ldims[0], n, images);
            return -1;
        }
        ds->labels = xmalloc((size_t)n * sizeof(int32_t));
        int maxl = 0;
        for (int i = 0; i < n; i++) { ds->labels[i] = lab[i]; if (lab[i] > maxl) maxl = lab[i]; }
        ds->nclasses = maxl + 1;
        free(lab);
    }
    snprintf(ds->source, sizeof ds->source, "idx");
    if (cached) cache_write(ds, cpath, h.h);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * image folders */

typedef struct { char **v; int n, cap; } StrList;
static void sl_push(StrList *l, const char *s) {
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 256; l->v = xrealloc(l->v, l->cap * sizeof(char *)); }
    l->v[l->n++] = xstrdup(s);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    const char *exts[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".pnm", ".ppm", ".pgm", ".pbm"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

typedef struct { dev_t dev; ino_t ino; } DirId;
typedef struct { DirId *v; int n, cap; } DirSet;

static void note_bad(Dataset *ds, const char *path, const char *why) {
    if (ds->skipped < DATASET_MAX_REPORT) snprintf(ds->bad[ds->skipped], sizeof ds->bad[0], "%s (%s)", path, why);
    ds->skipped++;
}

static void walk(const char *dir, int depth, StrList *files, DirSet *seen, Dataset *ds) {
    struct stat st;
    if (stat(dir, &st) != 0) { note_bad(ds, dir, strerror(errno)); return; }
    for (int i = 0; i < seen->n; i++)
        if (seen->v[i].dev == st.st_dev && seen->v[i].ino == st.st_ino) { note_bad(ds, dir, "directory loop"); return; }
    if (depth > 64) { note_bad(ds, dir, "nested too deeply"); return; }
    if (seen->n == seen->cap) { seen->cap = seen->cap ? 2 * seen->cap : 64; seen->v = xrealloc(seen->v, seen->cap * sizeof(DirId)); }
    seen->v[seen->n++] = (DirId){st.st_dev, st.st_ino};
    DIR *d = opendir(dir);
    if (!d) { note_bad(ds, dir, strerror(errno)); return; }
    StrList names = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ., .., hidden files */
        sl_push(&names, e->d_name);
    }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (int i = 0; i < names.n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        struct stat s;
        if (stat(path, &s) != 0) {
            if (has_image_ext(names.v[i]) || errno == ELOOP) note_bad(ds, path, errno == ELOOP ? "symlink loop" : strerror(errno));
        } else if (S_ISDIR(s.st_mode)) {
            walk(path, depth + 1, files, seen, ds);
        } else if (S_ISREG(s.st_mode) && has_image_ext(names.v[i])) {
            sl_push(files, path);
        }
        free(names.v[i]);
    }
    free(names.v);
}

static int load_folder(Dataset *ds, const char *dir, const DatasetOptions *o, char *err, size_t errlen) {
    StrList files = {0};
    DirSet seen = {0};
    walk(dir, 0, &files, &seen, ds);
    free(seen.v);
    Hash h = {0xcbf29ce484222325ull};
    hash_str(&h, "folder");
    int v[6] = {o->size, o->channels, o->crop, o->background[0], o->background[1], o->background[2]};
    hash_bytes(&h, v, sizeof v);
    for (int i = 0; i < files.n; i++) {
        struct stat st;
        if (stat(files.v[i], &st) == 0) hash_stat(&h, files.v[i], &st);
    }
    char cpath[4200];
    const int walk_skipped = ds->skipped;
    const int cached = files.n > 0 && cache_path(o, h.h, cpath, sizeof cpath) == 0;
    if (cached) {
        char keep[DATASET_MAX_REPORT][320];
        memcpy(keep, ds->bad, sizeof keep);
        if (cache_read(ds, cpath, h.h, o) == 0) {
            for (int i = 0; i < files.n; i++) free(files.v[i]);
            free(files.v);
            snprintf(ds->source, sizeof ds->source, "folder");
            return 0;
        }
        memcpy(ds->bad, keep, sizeof keep);
        ds->skipped = walk_skipped;
    }
    const size_t per = (size_t)o->channels * o->size * o->size;
    uint8_t *pix = xmalloc((size_t)(files.n ? files.n : 1) * per);
    char (*why)[160] = xcalloc(files.n ? files.n : 1, sizeof *why);
    #pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < files.n; i++) {
        size_t len = 0;
        uint8_t *buf = read_file(files.v[i], &len, 1ull << 31);
        if (!buf) {
            snprintf(why[i], sizeof why[i], "cannot read: %s", strerror(errno));
            continue;
        }
        image_decode_sample(buf, len, o, pix + (size_t)i * per, why[i], sizeof why[i]);
        free(buf);
    }
    /* labels: the first-level subfolder of each usable image; the walk is sorted, so the classes
     * appear in sorted order */
    int n = 0;
    int32_t *lab = xmalloc((size_t)(files.n ? files.n : 1) * sizeof(int32_t));
    ByteBuf names = {0};
    char last[CLASS_NAME_MAX * 4] = "";
    int nclasses = 0;
    const size_t dlen = strlen(dir);
    for (int i = 0; i < files.n; i++) {
        if (why[i][0]) { note_bad(ds, files.v[i], why[i]); continue; }
        if (n != i) memmove(pix + (size_t)n * per, pix + (size_t)i * per, per);
        const char *rel = files.v[i] + dlen;
        while (*rel == '/') rel++;
        const char *slash = strchr(rel, '/');
        if (!slash) {
            lab[n] = -1;
            ds->unlabelled++;
        } else {
            const size_t len = (size_t)(slash - rel) < sizeof last - 1 ? (size_t)(slash - rel) : sizeof last - 1;
            if (!nclasses || strncmp(last, rel, len) || last[len]) {
                memcpy(last, rel, len);
                last[len] = 0;
                if (nclasses) bytebuf_append(&names, "\n", 1);
                char shown[CLASS_NAME_MAX];
                snprintf(shown, sizeof shown, "%s", last);
                for (char *c = shown; *c; c++)
                    if (*c == '\n' || *c == '\r') *c = '_';
                bytebuf_append(&names, shown, strlen(shown));
                nclasses++;
            }
            lab[n] = nclasses - 1;
        }
        n++;
    }
    free(why);
    if (nclasses) {
        bytebuf_append(&names, "", 1);
        ds->labels = lab;
        ds->nclasses = nclasses;
        ds->class_names = (char *)names.p;
    } else {
        free(lab);
        bytebuf_free(&names);
        ds->unlabelled = 0; /* no classes at all: nothing is "outside" them */
    }
    for (int i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    if (n == 0) {
        free(pix);
        free(ds->labels);
        free(ds->class_names);
        ds->labels = NULL;
        ds->class_names = NULL;
        if (ds->skipped)
            snprintf(err, errlen, "no usable image in %s (%d bad file%s, first: %s)", dir, ds->skipped,
                     ds->skipped > 1 ? "s" : "", ds->bad[0]);
        else
            snprintf(err, errlen, "no image found in %s (looked for .png .jpg .jpeg .bmp .gif .tga .pnm/.ppm/.pgm)", dir);
        return -1;
    }
    ds->pixels = pix;
    ds->n = n; ds->channels = o->channels; ds->size = o->size;
    snprintf(ds->source, sizeof ds->source, "folder");
    if (cached) cache_write(ds, cpath, h.h);
    return 0;
}

int dataset_is_idx(const char *path) {
    struct stat st;
    char images[4200];
    if (stat(path, &st) != 0) return 0;
    return S_ISREG(st.st_mode) || find_idx(path, "train-images-idx3-ubyte", images, sizeof images) == 0;
}

/* IDX labels have no names: Fashion-MNIST's for a path that says so, else the numbers. */
static int name_idx_classes(Dataset *ds, const char *path, int rc) {
    if (rc == 0 && ds->labels && !ds->class_names) {
        int fashion = 0;
        for (const char *p = path; *p && !fashion; p++) fashion = !strncasecmp(p, "fashion", 7);
        ds->class_names = xmalloc(CLASS_NAMES_MAX);
        classes_default(ds->class_names, CLASS_NAMES_MAX, ds->nclasses, fashion);
    }
    return rc;
}

int dataset_load(Dataset *ds, const char *path, const DatasetOptions *o, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (!strcmp(path, DATASET_DEFAULT_PATH))
            snprintf(err, errlen, "the default data %s is missing; install it with: apt-get install dataset-fashion-mnist (or give --data PATH)", path);
        else
            snprintf(err, errlen, "cannot read --data %s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        char images[4200], labels[4200];
        if (find_idx(path, "train-images-idx3-ubyte", images, sizeof images) == 0) {
            int have_labels = find_idx(path, "train-labels-idx1-ubyte", labels, sizeof labels) == 0;
            return name_idx_classes(ds, path, load_idx(ds, images, have_labels ? labels : NULL, o, err, errlen));
        }
        return load_folder(ds, path, o, err, errlen);
    }
    /* a single file: IDX images, with labels beside it when named the usual way */
    char labels[4200];
    snprintf(labels, sizeof labels, "%s", path);
    char *p = strstr(labels, "images-idx3");
    int have_labels = 0;
    if (p) {
        memcpy(p, "labels-idx1", 11);
        struct stat ls;
        have_labels = stat(labels, &ls) == 0;
    }
    return name_idx_classes(ds, path, load_idx(ds, path, have_labels ? labels : NULL, o, err, errlen));
}

void dataset_free(Dataset *ds) {
    free(ds->pixels);
    free(ds->labels);
    free(ds->class_names);
    memset(ds, 0, sizeof *ds);
}

void dataset_to_float(const Dataset *ds, const uint32_t *index, int count, float *out) {
    const size_t per = (size_t)ds->channels * ds->size * ds->size;
    for (int i = 0; i < count; i++) {
        const uint8_t *src = ds->pixels + (size_t)index[i] * per;
        float *dst = out + (size_t)i * per;
        for (size_t k = 0; k < per; k++) dst[k] = src[k] * (2.0f / 255.0f) - 1.0f;
    }
}
