/* checkpoint.c: writing and reading complete training checkpoints (see checkpoint.h). */
#include "checkpoint.h"
#include "fileio.h"
#include "../core/util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define MAGIC "DCGANCKP"

/* ---- little-endian field writer / reader ---- */
typedef ByteBuf Buf;
static void put(Buf *b, const void *v, size_t n) { bytebuf_append(b, v, n); }
static void put_i64(Buf *b, int64_t v) { put(b, &v, 8); }
static void put_f64(Buf *b, double v) { put(b, &v, 8); }

typedef struct { const uint8_t *p; size_t n, at; int bad; } Rd;
static int64_t get_i64(Rd *r) {
    int64_t v = 0;
    if (r->at + 8 > r->n) { r->bad = 1; return 0; }
    memcpy(&v, r->p + r->at, 8);
    r->at += 8;
    return v;
}
static double get_f64(Rd *r) {
    double v = 0;
    if (r->at + 8 > r->n) { r->bad = 1; return 0; }
    memcpy(&v, r->p + r->at, 8);
    r->at += 8;
    return v;
}

static void write_header(Buf *b, const CheckpointMeta *m, const Gan *g) {
    const int64_t ints[] = {m->mc.arch, m->mc.size, m->mc.channels, m->mc.nz, m->mc.gf, m->mc.df, m->batch,
                            m->tc.g_steps, m->tc.loss, m->tc.zdist, (int64_t)m->seed, m->step, m->epoch,
                            m->batch_in_epoch, m->adam_t_d, m->adam_t_g, m->nranks, m->data_n,
                            (int64_t)g->G.nparams, (int64_t)g->G.nbuf, (int64_t)g->D.nparams, (int64_t)g->D.nbuf};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) put_i64(b, ints[i]);
    put_f64(b, m->tc.lr); put_f64(b, m->tc.beta1); put_f64(b, m->tc.beta2); put_f64(b, m->tc.eps);
    put_f64(b, m->elapsed);
    for (int i = 0; i < 4; i++) put_i64(b, (int64_t)m->reserved[i]);
    put_i64(b, m->crop);
    put_i64(b, m->background[0] | m->background[1] << 8 | m->background[2] << 16);
    const int64_t len = (int64_t)strnlen(m->data_path, sizeof m->data_path - 1);
    put_i64(b, len);
    put(b, m->data_path, (size_t)len);
    /* format 2 */
    put_i64(b, m->mc.nclasses);
    put_i64(b, m->mc.aux);
    put_f64(b, m->tc.class_weight);
    const int64_t clen = m->mc.nclasses ? (int64_t)strnlen(m->classes, sizeof m->classes - 1) : 0;
    put_i64(b, clen);
    put(b, m->classes, (size_t)clen);
    /* format 3 */
    put_f64(b, g->ema_params ? g->tc.ema : 0.0);
    /* format 4 */
    put_i64(b, m->mc.d_labels);
    /* format 5 */
    put_i64(b, m->mc.proj);
    /* format 6 */
    put_i64(b, m->flip);
    put_f64(b, m->tc.real_label);
    /* format 7 */
    put_i64(b, m->tc.lr_decay_from);
    put_i64(b, m->tc.lr_decay_to);
}

typedef struct { int64_t gp, gb, dp, db; } Counts;

static void read_header(Rd *r, CheckpointMeta *m, Counts *c, uint32_t version) {
    memset(m, 0, sizeof *m);
    train_config_default(&m->tc); /* what the file does not hold keeps its default (TrainConfig.stack_d) */
    m->mc.arch = (Arch)get_i64(r); m->mc.size = (int)get_i64(r); m->mc.channels = (int)get_i64(r);
    m->mc.nz = (int)get_i64(r); m->mc.gf = (int)get_i64(r); m->mc.df = (int)get_i64(r);
    m->batch = (int)get_i64(r); m->tc.g_steps = (int)get_i64(r); m->tc.loss = (GLoss)get_i64(r);
    m->tc.zdist = (ZDist)get_i64(r); m->seed = (uint64_t)get_i64(r); m->step = get_i64(r); m->epoch = get_i64(r);
    m->batch_in_epoch = get_i64(r); m->adam_t_d = get_i64(r); m->adam_t_g = get_i64(r);
    m->nranks = (int)get_i64(r); m->data_n = (int)get_i64(r);
    c->gp = get_i64(r); c->gb = get_i64(r); c->dp = get_i64(r); c->db = get_i64(r);
    m->tc.lr = get_f64(r); m->tc.beta1 = get_f64(r); m->tc.beta2 = get_f64(r); m->tc.eps = get_f64(r);
    m->elapsed = get_f64(r);
    for (int i = 0; i < 4; i++) m->reserved[i] = (uint64_t)get_i64(r);
    m->crop = (int)get_i64(r);
    const int64_t bg = get_i64(r);
    for (int i = 0; i < 3; i++) m->background[i] = (uint8_t)(bg >> (8 * i));
    const int64_t len = get_i64(r);
    if (len < 0 || len >= (int64_t)sizeof m->data_path || r->at + (size_t)len > r->n) { r->bad = 1; return; }
    memcpy(m->data_path, r->p + r->at, (size_t)len);
    m->data_path[len] = 0;
    r->at += (size_t)len;
    m->tc.class_weight = 1.0;
    if (version < 2) return; /* format 1: unconditional */
    m->mc.nclasses = (int)get_i64(r);
    m->mc.aux = (int)get_i64(r);
    m->tc.class_weight = get_f64(r);
    const int64_t clen = get_i64(r);
    if (clen < 0 || clen >= (int64_t)sizeof m->classes || r->at + (size_t)clen > r->n) { r->bad = 1; return; }
    memcpy(m->classes, r->p + r->at, (size_t)clen);
    m->classes[clen] = 0;
    r->at += (size_t)clen;
    m->mc.d_labels = m->mc.nclasses > 0; /* before format 4 a conditional D always took the labels */
    if (version < 3) return; /* format 2: no moving average */
    m->tc.ema = get_f64(r);
    if (version < 4) return;
    m->mc.d_labels = (int)get_i64(r);
    if (version < 5) return;
    m->mc.proj = (int)get_i64(r);
    if (version < 6) return;
    m->flip = (int)get_i64(r);
    m->tc.real_label = get_f64(r);
    if (version < 7) return;
    m->tc.lr_decay_from = get_i64(r);
    m->tc.lr_decay_to = get_i64(r); /* (checked with the rest of the schedule by train_config_check) */
}

/* Appends a backend tensor, downloaded straight into b (the room must be reserved); returns how many
 * of its values are not finite. */
static size_t put_block(Buf *b, Backend *be, const float *dev, size_t n) {
    uint8_t *dst = bytebuf_reserve(b, n * sizeof(float));
    if (n) be->download(be, (float *)dst, dev, n); /* (float offsets in the file need not be aligned: */
    size_t bad = 0;                                 /*  the values are read back as bytes) */
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, dst + i * sizeof(float), sizeof bits);
        bad += (bits & 0x7f800000u) == 0x7f800000u;
    }
    b->n += n * sizeof(float);
    return bad;
}

size_t checkpoint_tensor_bytes(const Gan *g) {
    size_t values = 3 * (g->G.nparams + g->D.nparams) + g->G.nbuf + g->D.nbuf;
    if (g->ema_params) values += g->G.nparams + g->G.nbuf;
    return values * sizeof(float);
}

int checkpoint_encode(Gan *g, const CheckpointMeta *meta, uint8_t **data, size_t *len, char *err, size_t errlen) {
    Buf b = {0};
    put(&b, MAGIC, 8);
    uint32_t version = CHECKPOINT_VERSION, hlen = 0;
    put(&b, &version, 4);
    const size_t hlen_at = b.n;
    put(&b, &hlen, 4);
    const size_t h0 = b.n;
    write_header(&b, meta, g);
    hlen = (uint32_t)(b.n - h0);
    memcpy(b.p + hlen_at, &hlen, 4);
    Net *nets[2] = {&g->G, &g->D};
    bytebuf_reserve(&b, checkpoint_tensor_bytes(g) + 4); /* (one allocation: the tensors and the CRC) */
    size_t bad = 0;
    for (int k = 0; k < 2; k++) {
        bad += put_block(&b, g->be, nets[k]->params, nets[k]->nparams);
        bad += put_block(&b, g->be, nets[k]->adam_m, nets[k]->nparams);
        bad += put_block(&b, g->be, nets[k]->adam_v, nets[k]->nparams);
        bad += put_block(&b, g->be, nets[k]->buffers, nets[k]->nbuf);
    }
    if (g->ema_params) {
        gan_ema_refresh(g);
        bad += put_block(&b, g->be, g->ema_params, g->G.nparams);
        bad += put_block(&b, g->be, g->ema_buffers, g->G.nbuf);
    }
    if (bad) { /* a diverged state must never replace a good checkpoint */
        bytebuf_free(&b);
        snprintf(err, errlen, "%zu weights or optimizer values are NaN or infinite (training diverged)", bad);
        return -1;
    }
    const uint32_t crc = 0; /* checkpoint_write fills it in */
    put(&b, &crc, 4);
    *data = b.p;
    *len = b.n;
    return 0;
}

int checkpoint_write(const char *path, uint8_t *data, size_t len, char *err, size_t errlen) {
    const uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), data, len - 4);
    memcpy(data + len - 4, &crc, 4);
    return write_file_atomic(path, data, len, err, errlen);
}

int checkpoint_save(const char *path, Gan *g, const CheckpointMeta *meta, char *err, size_t errlen) {
    uint8_t *data;
    size_t len;
    char e[512];
    if (checkpoint_encode(g, meta, &data, &len, e, sizeof e) != 0) {
        snprintf(err, errlen, "not writing %s: %s", path, e);
        return -1;
    }
    const int rc = checkpoint_write(path, data, len, err, errlen);
    free(data);
    return rc;
}

/* Validates the file; on success *buf holds it and r is positioned after the header. */
static int open_checked(const char *path, uint8_t **buf, Rd *r, CheckpointMeta *m, Counts *c, char *err,
                        size_t errlen) {
    size_t len = 0;
    *buf = read_file(path, &len, 1ull << 36);
    if (!*buf) { snprintf(err, errlen, "cannot read checkpoint %s: %s", path, strerror(errno)); return -1; }
    const uint8_t *p = *buf;
    if (len < 20 || memcmp(p, MAGIC, 8)) { snprintf(err, errlen, "%s is not a dcgan checkpoint (bad magic)", path); goto fail; }
    uint32_t version, hlen, crc;
    memcpy(&version, p + 8, 4);
    memcpy(&hlen, p + 12, 4);
    if (version < 1 || version > CHECKPOINT_VERSION) {
        snprintf(err, errlen, "%s is checkpoint format %u; this dcgan reads formats 1 to %u", path, version, CHECKPOINT_VERSION);
        goto fail;
    }
    memcpy(&crc, p + len - 4, 4);
    if ((uint32_t)crc32_z(crc32(0L, Z_NULL, 0), p, len - 4) != crc) {
        snprintf(err, errlen, "%s is corrupted (checksum mismatch); use an earlier checkpoint", path);
        goto fail;
    }
    *r = (Rd){p, len - 4, 16, 0};
    read_header(r, m, c, version);
    if (r->bad || r->at != 16 + (size_t)hlen) { snprintf(err, errlen, "%s has a malformed header", path); goto fail; }
    char why[256];
    if (m->batch < 1 || m->step < 0 || m->epoch < 0 || m->batch_in_epoch < 0 || m->adam_t_d < 0 || m->adam_t_g < 0 ||
        m->nranks < 1 || m->data_n < 0 || !(m->elapsed >= 0)) {
        snprintf(err, errlen, "%s has impossible counters in its header", path);
        goto fail;
    }
    if (train_config_check(&m->tc, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s holds an impossible schedule (%s)", path, why);
        goto fail;
    }
    if (model_config_check(&m->mc, m->batch, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s holds an impossible model (%s)", path, why);
        goto fail;
    }
    if (m->mc.nclasses && classes_count(m->classes) != m->mc.nclasses) {
        snprintf(err, errlen, "%s names %d classes for a model of %d", path, classes_count(m->classes), m->mc.nclasses);
        goto fail;
    }
    /* bound each count by the file size before any arithmetic on them (found by fuzz_checkpoint) */
    const int64_t most = (int64_t)(len / 4);
    if (c->gp < 0 || c->gb < 0 || c->dp < 0 || c->db < 0 || c->gp > most || c->gb > most || c->dp > most ||
        c->db > most ||
        16 + (size_t)hlen + 4 * (3 * (size_t)c->gp + (size_t)c->gb + 3 * (size_t)c->dp + (size_t)c->db +
                                 (m->tc.ema > 0 ? (size_t)c->gp + (size_t)c->gb : 0)) != len - 4) {
        snprintf(err, errlen, "%s has the wrong size for its model", path);
        goto fail;
    }
    return 0;
fail:
    free(*buf);
    *buf = NULL;
    return -1;
}

int checkpoint_read_meta(const char *path, CheckpointMeta *meta, char *err, size_t errlen) {
    uint8_t *buf;
    Rd r;
    Counts c;
    if (open_checked(path, &buf, &r, meta, &c, err, errlen) != 0) return -1;
    free(buf);
    return 0;
}

int checkpoint_load(const char *path, Gan *g, CheckpointMeta *meta, char *err, size_t errlen) {
    uint8_t *buf;
    Rd r;
    Counts c;
    if (open_checked(path, &buf, &r, meta, &c, err, errlen) != 0) return -1;
    const ModelConfig *a = &meta->mc, *b = &g->mc;
    if (a->arch != b->arch || a->size != b->size || a->channels != b->channels || a->nz != b->nz || a->gf != b->gf ||
        a->df != b->df || a->nclasses != b->nclasses || a->aux != b->aux || a->d_labels != b->d_labels ||
        a->proj != b->proj || (size_t)c.gp != g->G.nparams || (size_t)c.dp != g->D.nparams ||
        (size_t)c.gb != g->G.nbuf || (size_t)c.db != g->D.nbuf) {
        snprintf(err, errlen,
                 "%s is a %s model at %dx%dx%d (nz %d, gf %d, df %d), not the requested %s at %dx%dx%d (nz %d, gf %d, df %d)",
                 path, arch_name(a->arch), a->size, a->size, a->channels, a->nz, a->gf, a->df, arch_name(b->arch), b->size,
                 b->size, b->channels, b->nz, b->gf, b->df);
        free(buf);
        return -1;
    }
    const float *p = (const float *)(buf + r.at);
    Net *nets[2] = {&g->G, &g->D};
    for (int k = 0; k < 2; k++) {
        Net *n = nets[k];
        Backend *be = g->be;
        be->upload(be, n->params, p, n->nparams); p += n->nparams;
        be->upload(be, n->adam_m, p, n->nparams); p += n->nparams;
        be->upload(be, n->adam_v, p, n->nparams); p += n->nparams;
        be->upload(be, n->buffers, p, n->nbuf); p += n->nbuf;
    }
    if (g->ema_params) {
        Backend *be = g->be;
        if (meta->tc.ema > 0) {
            be->upload(be, g->ema_params, p, g->G.nparams); p += g->G.nparams;
            be->upload(be, g->ema_buffers, p, g->G.nbuf);
        } else { /* the file has none: the average starts here */
            be->copy(be, g->ema_params, g->G.params, g->G.nparams);
            be->copy(be, g->ema_buffers, g->G.buffers, g->G.nbuf);
        }
        g->ema_fresh = 1;
    }
    g->step = meta->step;
    g->adam_t_d = meta->adam_t_d;
    g->adam_t_g = meta->adam_t_g;
    free(buf);
    return 0;
}

int checkpoint_resolve(const char *path, char *out, size_t outlen, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) { snprintf(err, errlen, "cannot read checkpoint %s: %s", path, strerror(errno)); return -1; }
    if (!S_ISDIR(st.st_mode)) { snprintf(out, outlen, "%s", path); return 0; }
    DIR *d = opendir(path);
    if (!d) { snprintf(err, errlen, "cannot read folder %s: %s", path, strerror(errno)); return -1; }
    struct dirent *e;
    long best = -1;
    char name[512] = "";
    while ((e = readdir(d))) {
        long step;
        char tail[16];
        if (sscanf(e->d_name, "ckpt_%ld.dcgan%15s", &step, tail) == 1 && step > best) {
            best = step;
            snprintf(name, sizeof name, "%s", e->d_name);
        }
    }
    closedir(d);
    if (best < 0) { snprintf(err, errlen, "no checkpoint (ckpt_*.dcgan) in %s", path); return -1; }
    snprintf(out, outlen, "%s/%s", path, name);
    return 0;
}
