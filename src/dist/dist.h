/* dist.h: data-parallel training over MPI (Open MPI from Debian). Rank 0 of N writes every file;
 * each rank trains on its shard of the global batch; gradients are averaged after each backward
 * pass (reduce to rank 0, then broadcast, so every rank holds the same bits); with --sync-bn batch
 * norm uses the statistics of the global batch, one collective per layer. Built without MPI, the
 * program is single-process and refuses a distributed launch with one line. */
#ifndef DCGAN_DIST_H
#define DCGAN_DIST_H

#include "../models/model.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;
    int mpi;               /* MPI was initialized (and must be finalized) */
    int device_coll;       /* gradients are averaged by the backend's collectives (NCCL), not on the host */
    int in_graph;          /* ... and issued into the iteration's graph: no host wait, no timing per call
                              (dist_time_device_average times them on their own) */
    double reduce_s;       /* seconds spent averaging gradients */
    long reduce_calls;
    BnSync bn;             /* --sync-bn hooks for the model */
    double *gather;        /* host scratch for the collectives */
    size_t gather_cap;
    float *host;           /* host staging of backend tensors */
    size_t host_cap;
    /* watchdog: a rank that makes no progress for timeout_s ends the job */
    pthread_t watchdog;
    int watchdog_on;
    double timeout_s;
    _Atomic double heartbeat; /* now_seconds() of the last progress */
    _Atomic int stop_watchdog;
    char where[256];       /* for the watchdog's message */
} Dist;

/* Joins the job (MPI_Init under mpirun, or a single process). Dies with one line when launched
 * with several ranks by a build without MPI. */
void dist_init(Dist *d, int *argc, char ***argv);
void dist_finalize(Dist *d);

/* With several ranks on a backend that has collectives (CUDA built with NCCL), sets them up with
 * rank 0's id sent over MPI, so that dist_grad_average runs on the devices; otherwise, or when that
 * fails (said in one line), gradients keep going through MPI on the host. Returns d->device_coll.
 * even_alone: a test of that path on one GPU (NCCL refuses two ranks on one GPU): under mpirun -np
 * 1, a one-rank communicator, whose mean leaves the gradients as they are. */
int dist_use_device_collectives(Dist *d, Backend *be, int even_alone);
/* The grad_average hook of Gan: averages n backend floats over the ranks. */
void dist_grad_average(void *ctx, Backend *be, float *grads, size_t n);
/* With d->in_graph, the all-reduces of an iteration were recorded into its graph and not timed
 * there: this times `reps` iterations' worth of them on their own (one of n_d floats, then g_steps
 * of n_g, on the blocks given, whose values it averages again), and adds them to reduce_s and
 * reduce_calls as if they had been timed in place. Collective: every rank calls it. */
void dist_time_device_average(Dist *d, Backend *be, float *d_block, size_t n_d, float *g_block, size_t n_g,
                              int g_steps, int reps);
/* Averages n host floats over the ranks (logged losses). */
void dist_average_host(Dist *d, float *x, size_t n);
/* Copies n backend floats from rank 0 to every rank. */
void dist_broadcast(Dist *d, Backend *be, float *dev, size_t n);
/* Every rank's value, in rank order, into all (d->size of them). */
void dist_allgather_u32(Dist *d, uint32_t v, uint32_t *all);

/* Starts the watchdog: when dist_heartbeat has not been called for timeout_s seconds (another rank
 * died or hangs, so a collective never returns), it prints one line naming `where` and ends this
 * process, and mpirun ends the job. */
void dist_watchdog_start(Dist *d, double timeout_s, const char *where);
void dist_heartbeat(Dist *d);

#endif
