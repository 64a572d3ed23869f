/* loader.c: the prefetching batch loader (see loader.h). */
#include "loader.h"
#include "../core/ctr_rng.h"
#include "../core/rng.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void make_perm(Loader *l, long epoch) {
    Rng r;
    rng_seed(&r, l->seed, 1000 + (uint64_t)epoch);
    const int n = l->ds->n;
    for (int i = 0; i < n; i++) l->perm[i] = (uint32_t)i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = rng_below(&r, (uint32_t)i + 1);
        uint32_t t = l->perm[i]; l->perm[i] = l->perm[j]; l->perm[j] = t;
    }
    l->perm_epoch = epoch;
}

int loader_mirrored(uint64_t seed, long epoch, size_t at) {
    /* the counter-based generator's streams 2^33 + epoch (the latents use 2^32 + step and 3 * 2^32 + k) */
    return (int)(ctr_rng_bits(ctr_rng_key(seed, (2ull << 32) + (uint64_t)epoch), at) >> 63);
}

/* Flips image (C, S, S) left-right in place. */
static void mirror_image(float *img, int C, int S) {
    for (int r = 0; r < C * S; r++) {
        float *row = img + (size_t)r * S;
        for (int x = 0; x < S / 2; x++) { const float t = row[x]; row[x] = row[S - 1 - x]; row[S - 1 - x] = t; }
    }
}

static void produce(Loader *l, int slot) {
    if (l->perm_epoch != l->epoch) make_perm(l, l->epoch);
    const size_t first = ((size_t)l->batch * l->nranks + l->rank) * l->B;
    dataset_to_float(l->ds, l->perm + first, l->B, l->buf[slot]);
    if (l->mirror) {
        const int C = l->ds->channels, S = l->ds->size;
        for (int i = 0; i < l->B; i++)
            if (loader_mirrored(l->seed, l->epoch, first + (size_t)i))
                mirror_image(l->buf[slot] + (size_t)i * C * S * S, C, S);
    }
    if (l->lab[slot])
        for (int i = 0; i < l->B; i++) l->lab[slot][i] = l->ds->labels[l->perm[first + i]];
    l->slot_epoch[slot] = l->epoch;
    l->slot_batch[slot] = l->batch;
    if (++l->batch == l->batches_per_epoch) { l->batch = 0; l->epoch++; }
}

static void *run(void *arg) {
    Loader *l = arg;
    int slot = l->next_full;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->state[slot] != 0) pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        pthread_mutex_unlock(&l->mu);
        produce(l, slot);
        pthread_mutex_lock(&l->mu);
        l->state[slot] = 1;
        pthread_cond_broadcast(&l->cv);
        slot ^= 1;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int loader_start(Loader *l, const Dataset *ds, int B, uint64_t seed, int mirror, int rank, int nranks, long epoch,
                 long batch, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->ds = ds; l->B = B; l->seed = seed; l->mirror = mirror; l->rank = rank; l->nranks = nranks;
    l->batches_per_epoch = ds->n / ((long)B * nranks);
    if (l->batches_per_epoch < 1) {
        snprintf(err, errlen, "the data has %d image%s, fewer than one batch of %d%s; use a smaller --batch", ds->n,
                 ds->n == 1 ? "" : "s", B * nranks, nranks > 1 ? " across all ranks" : "");
        return -1;
    }
    l->epoch = epoch + batch / l->batches_per_epoch;
    l->batch = batch % l->batches_per_epoch;
    l->perm = xmalloc((size_t)ds->n * sizeof(uint32_t));
    l->perm_epoch = -1;
    const size_t per = (size_t)ds->channels * ds->size * ds->size * B;
    l->buf[0] = xmalloc(per * sizeof(float));
    l->buf[1] = xmalloc(per * sizeof(float));
    if (ds->labels) {
        l->lab[0] = xmalloc((size_t)B * sizeof(int32_t));
        l->lab[1] = xmalloc((size_t)B * sizeof(int32_t));
    }
    l->in_use = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->thread, NULL, run, l) != 0) die("cannot start the data loader thread");
    return 0;
}

const float *loader_next(Loader *l, long *epoch, long *batch, const int32_t **labels) {
    pthread_mutex_lock(&l->mu);
    if (l->in_use >= 0) { l->state[l->in_use] = 0; pthread_cond_broadcast(&l->cv); }
    const int s = l->next_full;
    while (l->state[s] != 1) pthread_cond_wait(&l->cv, &l->mu);
    l->state[s] = 2;
    l->in_use = s;
    l->next_full = s ^ 1;
    pthread_mutex_unlock(&l->mu);
    if (epoch) *epoch = l->slot_epoch[s];
    if (batch) *batch = l->slot_batch[s];
    if (labels) *labels = l->lab[s];
    return l->buf[s];
}

void loader_stop(Loader *l) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->perm);
    free(l->buf[0]);
    free(l->buf[1]);
    free(l->lab[0]);
    free(l->lab[1]);
}
