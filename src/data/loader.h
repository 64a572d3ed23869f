/* loader.h: batches of real images for training, prepared by a background thread.
 *
 * Each epoch is a permutation of the data set drawn from (seed, epoch), so the order of any epoch
 * can be recomputed at resume from its number alone. The last incomplete batch of an epoch is
 * dropped. With several ranks, global batch k of an epoch is split rank by rank. With mirroring on,
 * each image is flipped left-right or not by a draw keyed by (seed, epoch, place in the epoch), so
 * it too is the same at resume and for any rank count. */
#ifndef DCGAN_LOADER_H
#define DCGAN_LOADER_H

#include "dataset.h"

#include <pthread.h>
#include <stdint.h>

typedef struct {
    const Dataset *ds;
    int B, rank, nranks;
    uint64_t seed;
    int mirror;        /* flip images left-right at random (loader_mirrored) */
    long batches_per_epoch;
    /* producer position: the next batch to prepare */
    long epoch, batch;
    uint32_t *perm;
    long perm_epoch;
    /* two slots: 0 free, 1 full, 2 in use by the trainer */
    float *buf[2];
    int32_t *lab[2];   /* the batch's labels, when the data set has them */
    int state[2];
    long slot_epoch[2], slot_batch[2];
    int next_full;   /* the slot the consumer takes next */
    int in_use;      /* the slot the consumer holds, or -1 */
    int stop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} Loader;

/* Starts the loader at (epoch, batch); returns -1 with a message when the data set holds fewer
 * images than one global batch. mirror: flip images left-right at random. */
int loader_start(Loader *l, const Dataset *ds, int B, uint64_t seed, int mirror, int rank, int nranks, long epoch,
                 long batch, char *err, size_t errlen);
/* Whether the image at place `at` of epoch `epoch`'s order (counted over the global batches) is
 * mirrored when mirroring is on: a fair coin from (seed, epoch, at). */
int loader_mirrored(uint64_t seed, long epoch, size_t at);
/* The next batch, float NCHW (B, C, S, S) in [-1, 1], and its labels (B) in *labels (NULL when the
 * data set has none; labels may be NULL); valid until the next call. */
const float *loader_next(Loader *l, long *epoch, long *batch, const int32_t **labels);
void loader_stop(Loader *l);

#endif
