/* safetensors.c: writing and strictly parsing safetensors files (see safetensors.h). */
#include "safetensors.h"
#include "fileio.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(StDtype d) { return d == ST_F32 ? 4 : d == ST_I64 ? 8 : 0; }

int safetensors_write(const char *path, const StTensor *t, int n, char *err, size_t errlen) {
    size_t cap = 256 + (size_t)n * 256, len = 0, off = 0;
    char *h = xmalloc(cap);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name,
                                t[i].dtype == ST_F32 ? "F32" : "I64");
        for (int d = 0; d < t[i].ndim; d++) len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i].dims[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' '; /* the data starts 8-byte aligned */
    AtomicFile a;
    if (atomic_open(&a, path, err, errlen) != 0) { free(h); return -1; }
    const uint64_t hl = len; /* little-endian on the machines we build for */
    atomic_write(&a, &hl, 8);
    atomic_write(&a, h, len);
    for (int i = 0; i < n; i++) atomic_write(&a, t[i].data, t[i].nbytes);
    free(h);
    return atomic_commit(&a, err, errlen);
}

/* ---- a strict reader for the header's small JSON subset ---- */
typedef struct { const char *p, *end; } J;

static void ws(J *j) { while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++; }
static int lit(J *j, char c) { ws(j); if (j->p < j->end && *j->p == c) { j->p++; return 1; } return 0; }
/* a string without escapes other than \" and \\ (tensor names and dtypes never need more) */
static int str(J *j, char *out, size_t cap) {
    if (!lit(j, '"')) return 0;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end || (*j->p != '"' && *j->p != '\\' && *j->p != '/')) return 0;
            c = *j->p++;
        }
        if ((unsigned char)c < 0x20 || n + 1 >= cap) return 0;
        out[n++] = c;
    }
    if (j->p >= j->end) return 0;
    j->p++;
    out[n] = 0;
    return 1;
}
static int integer(J *j, int64_t *v) {
    ws(j);
    int64_t x = 0;
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (INT64_MAX - 9) / 10) return 0;
        x = x * 10 + (*j->p++ - '0');
    }
    *v = x;
    return j->p > s;
}
/* skips any JSON value made of strings and objects (the __metadata__ map) */
static int skip_value(J *j, int depth) {
    char tmp[1024];
    ws(j);
    if (depth > 8 || j->p >= j->end) return 0;
    if (*j->p == '"') return str(j, tmp, sizeof tmp);
    if (!lit(j, '{')) return 0;
    if (lit(j, '}')) return 1;
    do {
        if (!str(j, tmp, sizeof tmp) || !lit(j, ':') || !skip_value(j, depth + 1)) return 0;
    } while (lit(j, ','));
    return lit(j, '}');
}

int safetensors_parse(const uint8_t *buf, size_t len, StTensor *t, int *n, char *err, size_t errlen) {
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    *n = 0;
    if (len < 8) BAD("too short for a safetensors file");
    uint64_t hl;
    memcpy(&hl, buf, 8);
    if (hl < 2 || hl > len - 8 || hl > (100u << 20)) BAD("not a safetensors file (header length %llu)", (unsigned long long)hl);
    const uint8_t *data = buf + 8 + hl;
    const size_t dlen = len - 8 - (size_t)hl;
    J j = {(const char *)buf + 8, (const char *)buf + 8 + hl};
    if (!lit(&j, '{')) BAD("not a safetensors file (the header is not a JSON object)");
    if (!lit(&j, '}')) {
        do {
            char key[128];
            if (!str(&j, key, sizeof key) || !lit(&j, ':')) BAD("malformed safetensors header near byte %ld", (long)(j.p - (const char *)buf));
            if (!strcmp(key, "__metadata__")) {
                if (!skip_value(&j, 0)) BAD("malformed __metadata__ in the safetensors header");
                continue;
            }
            if (*n == ST_MAX_TENSORS) BAD("more than %d tensors", ST_MAX_TENSORS);
            StTensor *x = &t[*n];
            memset(x, 0, sizeof *x);
            snprintf(x->name, sizeof x->name, "%s", key);
            int have_dtype = 0, have_shape = 0, have_off = 0;
            int64_t o0 = 0, o1 = 0;
            if (!lit(&j, '{')) BAD("tensor %s: not an object", key);
            do {
                char f[32];
                if (!str(&j, f, sizeof f) || !lit(&j, ':')) BAD("tensor %s: malformed entry", key);
                if (!strcmp(f, "dtype")) {
                    if (!str(&j, x->dtype_name, sizeof x->dtype_name)) BAD("tensor %s: bad dtype", key);
                    x->dtype = !strcmp(x->dtype_name, "F32") ? ST_F32 : !strcmp(x->dtype_name, "I64") ? ST_I64 : ST_OTHER;
                    have_dtype = 1;
                } else if (!strcmp(f, "shape")) {
                    if (!lit(&j, '[')) BAD("tensor %s: bad shape", key);
                    if (!lit(&j, ']')) {
                        do {
                            if (x->ndim == ST_MAX_DIMS || !integer(&j, &x->dims[x->ndim])) BAD("tensor %s: bad shape", key);
                            x->ndim++;
                        } while (lit(&j, ','));
                        if (!lit(&j, ']')) BAD("tensor %s: bad shape", key);
                    }
                    have_shape = 1;
                } else if (!strcmp(f, "data_offsets")) {
                    if (!lit(&j, '[') || !integer(&j, &o0) || !lit(&j, ',') || !integer(&j, &o1) || !lit(&j, ']'))
                        BAD("tensor %s: bad data_offsets", key);
                    have_off = 1;
                } else BAD("tensor %s: unknown field %s", key, f);
            } while (lit(&j, ','));
            if (!lit(&j, '}') || !have_dtype || !have_shape || !have_off) BAD("tensor %s: needs dtype, shape and data_offsets", key);
            if (o0 > o1 || (uint64_t)o1 > dlen) BAD("tensor %s: data_offsets [%lld, %lld] outside the %zu data bytes", key, (long long)o0, (long long)o1, dlen);
            x->data = data + o0;
            x->nbytes = (size_t)(o1 - o0);
            if (x->dtype != ST_OTHER) {
                uint64_t numel = 1;
                for (int d = 0; d < x->ndim; d++) {
                    if (x->dims[d] > (int64_t)dlen) BAD("tensor %s: impossible shape", key);
                    numel *= (uint64_t)x->dims[d];
                    if (numel > dlen) BAD("tensor %s: impossible shape", key);
                }
                if (numel * dtype_size(x->dtype) != x->nbytes) BAD("tensor %s: its shape does not match its %zu bytes", key, x->nbytes);
            }
            (*n)++;
        } while (lit(&j, ','));
        if (!lit(&j, '}')) BAD("malformed safetensors header (expected , or })");
    }
    ws(&j);
    if (j.p != j.end) BAD("malformed safetensors header (text after the object)");
    return 0;
#undef BAD
}

const StTensor *safetensors_find(const StTensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}
