/* evaluate.c: reference features, caching, and the metrics of a sample set (see evaluate.h). */
#include "evaluate.h"
#include "metrics.h"
#include "../core/util.h"
#include "../data/dataset.h"
#include "../io/fileio.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb_image_resize.h>

#define EVAL_BATCH 500
#define REF_CACHE_MAGIC "DCGANRF1"

void to_lenet_input(const float *in, int n, int C, int S, float *out) {
    const size_t per = (size_t)S * S, oper = (size_t)LENET_SIZE * LENET_SIZE;
    float *gray = xmalloc(per * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *x = in + (size_t)i * C * per;
        for (size_t k = 0; k < per; k++)
            gray[k] = C == 1 ? x[k] : 0.299f * x[k] + 0.587f * x[per + k] + 0.114f * x[2 * per + k];
        if (S == LENET_SIZE) memcpy(out + (size_t)i * oper, gray, oper * sizeof(float));
        else if (!stbir_resize_float(gray, S, S, 0, out + (size_t)i * oper, LENET_SIZE, LENET_SIZE, 0, 1))
            die("image resize failed (out of memory?)");
    }
    free(gray);
}

int find_lenet(const char *name, char *out, size_t n) {
    const char *env = getenv("DCGAN_LENET");
    if (env && *env) { snprintf(out, n, "%s", env); return access(out, R_OK) == 0 ? 0 : -1; }
    char exe[4096];
    const ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return -1;
    exe[k] = 0;
    const char *dir = dirname(exe);
    const char *where[2] = {"%s/models/lenet-%s.safetensors", "%s/../share/dcgan/lenet-%s.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, n, where[i], dir, name);
        if (access(out, R_OK) == 0) return 0;
    }
    return -1;
}

void evaluator_features(Evaluator *e, const float *images, int n, float *features, float *probs) {
    const size_t per = (size_t)LENET_SIZE * LENET_SIZE;
    for (int i = 0; i < n; i += EVAL_BATCH) {
        const int m = n - i < EVAL_BATCH ? n - i : EVAL_BATCH;
        lenet_run(&e->lenet, images + (size_t)i * per, m, features ? features + (size_t)i * LENET_FEATURES : NULL,
                  probs ? probs + (size_t)i * LENET_CLASSES : NULL);
    }
}

/* CRC-32 of a file (identifies the LeNet weights in the reference cache key) */
static uint32_t file_crc(const char *path) {
    size_t len;
    uint8_t *b = read_file(path, &len, 1u << 30);
    if (!b) return 0;
    const uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)len);
    free(b);
    return c;
}

int evaluator_init(Evaluator *e, Backend *be, const char *reference, int n, const char *lenet_path, char *err,
                   size_t errlen) {
    memset(e, 0, sizeof *e);
    e->be = be;
    /* the reference data and its LeNet */
    const char *path = reference, *net = "fashion-mnist";
    if (!strcmp(reference, "fashion-mnist")) path = DATASET_DEFAULT_PATH;
    else if (!strcmp(reference, "mnist")) {
        path = getenv("DCGAN_MNIST") ? getenv("DCGAN_MNIST") : "/usr/share/datasets/mnist";
        net = "mnist";
    }
    char lpath[4300];
    if (lenet_path) snprintf(lpath, sizeof lpath, "%s", lenet_path);
    else if (find_lenet(net, lpath, sizeof lpath) != 0) {
        snprintf(err, errlen, "no LeNet weights for %s (models/lenet-%s.safetensors); train them with: dcgan lenet "
                 "--data %s --out models/lenet-%s.safetensors, or give --lenet FILE", net, net, path, net);
        return -1;
    }
    lenet_init(&e->lenet, be, EVAL_BATCH, 0, 1);
    if (lenet_load(&e->lenet, lpath, err, errlen) != 0) { lenet_free(&e->lenet); return -1; }
    char real[4096];
    if (!realpath(path, real)) {
        snprintf(err, errlen, "cannot read the reference %s: %s%s", path, strerror(errno),
                 !strcmp(reference, "mnist") ? " (set DCGAN_MNIST to the folder of the MNIST IDX files)" : "");
        lenet_free(&e->lenet);
        return -1;
    }
    snprintf(e->reference, sizeof e->reference, "%s (%s)", reference, real);

    /* cached features: keyed by the reference's path and files, n and the LeNet weights */
    char key_src[4300 + 64], cdir[4096], cpath[4300];
    struct stat st;
    stat(real, &st);
    snprintf(key_src, sizeof key_src, "%s|%lld|%lld|%d|%08x", real, (long long)st.st_mtime, (long long)st.st_size, n,
             file_crc(lpath));
    const uint32_t key = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)key_src, (uInt)strlen(key_src));
    const int have_cache = dataset_cache_dir(cdir, sizeof cdir) == 0;
    if (have_cache) {
        snprintf(cpath, sizeof cpath, "%s/reference-%08x.f32", cdir, key);
        size_t len;
        uint8_t *b = read_file(cpath, &len, 1ull << 32);
        int32_t m;
        if (b && len > 12 && !memcmp(b, REF_CACHE_MAGIC, 8) && (memcpy(&m, b + 8, 4), m > 1) &&
            len == 12 + (size_t)m * LENET_FEATURES * sizeof(float)) {
            e->n_ref = m;
            e->ref_feat = xmalloc((size_t)m * LENET_FEATURES * sizeof(float));
            memcpy(e->ref_feat, b + 12, (size_t)m * LENET_FEATURES * sizeof(float));
            e->ref_from_cache = 1;
        }
        free(b);
    }
    if (!e->ref_feat) {
        DatasetOptions o = {LENET_SIZE, 1, 1, {255, 255, 255}, NULL, 0};
        Dataset ds;
        if (dataset_load(&ds, path, &o, err, errlen) != 0) { lenet_free(&e->lenet); return -1; }
        const int m = ds.n < n ? ds.n : n;
        if (m < 2) {
            snprintf(err, errlen, "the reference %s has %d image%s; it needs at least 2", path, ds.n, ds.n == 1 ? "" : "s");
            dataset_free(&ds);
            lenet_free(&e->lenet);
            return -1;
        }
        /* m images spread over the whole set, in a fixed order */
        uint32_t *idx = xmalloc((size_t)m * sizeof(uint32_t));
        for (int i = 0; i < m; i++) idx[i] = (uint32_t)((long)i * ds.n / m);
        float *img = xmalloc((size_t)m * LENET_SIZE * LENET_SIZE * sizeof(float));
        dataset_to_float(&ds, idx, m, img);
        e->n_ref = m;
        e->ref_feat = xmalloc((size_t)m * LENET_FEATURES * sizeof(float));
        evaluator_features(e, img, m, e->ref_feat, NULL);
        free(img);
        free(idx);
        dataset_free(&ds);
        if (have_cache) { /* best effort: a read-only cache only costs time */
            AtomicFile a;
            char ignore[256];
            if (atomic_open(&a, cpath, ignore, sizeof ignore) == 0) {
                const int32_t mm = m;
                atomic_write(&a, REF_CACHE_MAGIC, 8);
                atomic_write(&a, &mm, 4);
                atomic_write(&a, e->ref_feat, (size_t)m * LENET_FEATURES * sizeof(float));
                atomic_commit(&a, ignore, sizeof ignore);
            }
        }
    }
    e->ref_mu = xmalloc(LENET_FEATURES * sizeof(double));
    e->ref_cov = xmalloc((size_t)LENET_FEATURES * LENET_FEATURES * sizeof(double));
    feature_moments(e->ref_feat, e->n_ref, LENET_FEATURES, e->ref_mu, e->ref_cov);
    return 0;
}

void evaluator_free(Evaluator *e) {
    lenet_free(&e->lenet);
    free(e->ref_feat);
    free(e->ref_mu);
    free(e->ref_cov);
}

int lenet_argmax(const float *p) {
    int best = 0;
    for (int c = 1; c < LENET_CLASSES; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

void evaluator_run(Evaluator *e, const float *images, const int32_t *labels, int n, uint64_t seed, EvalResult *r) {
    const int F = LENET_FEATURES;
    float *feat = xmalloc((size_t)n * F * sizeof(float)), *probs = xmalloc((size_t)n * LENET_CLASSES * sizeof(float));
    evaluator_features(e, images, n, feat, probs);
    double *mu = xmalloc(F * sizeof(double)), *cov = xmalloc((size_t)F * F * sizeof(double));
    feature_moments(feat, n, F, mu, cov);
    memset(r, 0, sizeof *r);
    r->n_fake = n;
    r->n_real = e->n_ref;
    r->fid = frechet_distance(mu, cov, e->ref_mu, e->ref_cov, F);
    Rng rng;
    rng_seed(&rng, seed, 31);
    kid(feat, n, e->ref_feat, e->n_ref, F, 10, 1000, &rng, &r->kid, &r->kid_std);
    inception_score(probs, n, LENET_CLASSES, 10, &r->is, &r->is_std);
    precision_recall(e->ref_feat, e->n_ref, feat, n, F, 5, &r->precision, &r->recall);
    r->nn_median = nearest_real(e->ref_feat, e->n_ref, feat, n, F, &r->memorized);
    if (labels) {
        long right[LENET_CLASSES] = {0};
        for (int i = 0; i < n; i++) {
            DCGAN_CHECK(labels[i] >= 0 && labels[i] < LENET_CLASSES, "evaluator: label %d out of range", labels[i]);
            r->class_n[labels[i]]++;
            right[labels[i]] += lenet_argmax(probs + (size_t)i * LENET_CLASSES) == labels[i];
        }
        r->nclasses = LENET_CLASSES;
        r->min_class_acc = 1;
        for (int k = 0; k < LENET_CLASSES; k++) {
            r->class_acc[k] = r->class_n[k] ? (double)right[k] / r->class_n[k] : 0;
            if (r->class_acc[k] < r->min_class_acc) r->min_class_acc = r->class_acc[k];
        }
    }
    free(feat); free(probs); free(mu); free(cov);
}
