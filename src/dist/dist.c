/* dist.c: the MPI layer (see dist.h). Compiled with DCGAN_HAVE_MPI when mpicc is there. */
#include "dist.h"
#include "../core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef DCGAN_HAVE_MPI
#include <mpi.h>
#endif

/* The rank count a launcher announced in the environment (mpirun, srun, hydra), or 0 when the
 * program was not started by one. */
static int launched_ranks(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) >= 1) return atoi(v);
    }
    return 0;
}

#ifdef DCGAN_HAVE_MPI
static float *host_buf(Dist *d, size_t n) {
    if (n > d->host_cap) { d->host = xrealloc(d->host, n * sizeof(float)); d->host_cap = n; }
    return d->host;
}
static double *gather_buf(Dist *d, size_t n) {
    if (n > d->gather_cap) { d->gather = xrealloc(d->gather, n * sizeof(double)); d->gather_cap = n; }
    return d->gather;
}

#define MPI_CHECK(call)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) {                                                                  \
            char msg_[MPI_MAX_ERROR_STRING];                                                       \
            int len_ = 0;                                                                          \
            MPI_Error_string(rc_, msg_, &len_);                                                    \
            fprintf(stderr, "dcgan: MPI error in %s: %s\n", #call, msg_);                           \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

/* Every rank's (n_local, a[C], b[C]) in rank order, from this rank's (4C) backend block of hi/lo
 * pairs a_hi, a_lo, b_hi, b_lo (see ops.h): one collective. */
static const double *gather_pairs(Dist *d, Backend *be, const float *dev, int C, int n_local) {
    const size_t per = 1 + 2 * (size_t)C;
    double *all = gather_buf(d, per * (d->size + 1)), *mine = all + per * d->size;
    float *h = host_buf(d, 4 * (size_t)C);
    be->download(be, h, dev, 4 * (size_t)C);
    mine[0] = n_local;
    for (int c = 0; c < C; c++) {
        mine[1 + c] = (double)h[c] + h[C + c];
        mine[1 + C + c] = (double)h[2 * C + c] + h[3 * C + c];
    }
    MPI_CHECK(MPI_Allgather(mine, (int)per, MPI_DOUBLE, all, (int)per, MPI_DOUBLE, MPI_COMM_WORLD));
    return all;
}

/* (n_local, mean[C], M2[C]) of every rank, combined in rank order (Chan et al.), so every rank
 * computes the same global statistics. */
static void bn_forward(void *ctx, Backend *be, const float *stats, float *mean, float *rstd, float *running_mean,
                       float *running_var, int C, int n_local, float momentum, float eps) {
    Dist *d = ctx;
    const size_t per = 1 + 2 * (size_t)C;
    const double *all = gather_pairs(d, be, stats, C, n_local); /* per rank: n, mean[C], M2[C] */
    float *h = host_buf(d, 4 * (size_t)C);
    be->download(be, h, running_mean, (size_t)C);
    be->download(be, h + C, running_var, (size_t)C);
    float *m_out = h + 2 * C, *r_out = h + 3 * C;
    for (int c = 0; c < C; c++) {
        double n = 0, mu = 0, m2 = 0;
        for (int r = 0; r < d->size; r++) {
            const double *x = all + per * r;
            const double nr = x[0], mr = x[1 + c], m2r = x[1 + C + c], nt = n + nr, delta = mr - mu;
            mu += delta * nr / nt;
            m2 += m2r + delta * delta * n * nr / nt;
            n = nt;
        }
        const double var = m2 / n, unbiased = n > 1 ? m2 / (n - 1) : var;
        m_out[c] = (float)mu;
        r_out[c] = (float)(1.0 / sqrt(var + eps));
        h[c] = (float)((1.0 - momentum) * h[c] + momentum * mu);
        h[C + c] = (float)((1.0 - momentum) * h[C + c] + momentum * unbiased);
    }
    be->upload(be, mean, m_out, (size_t)C);
    be->upload(be, rstd, r_out, (size_t)C);
    be->upload(be, running_mean, h, (size_t)C);
    be->upload(be, running_var, h + C, (size_t)C);
}

static double bn_backward(void *ctx, Backend *be, const float *local, float *global, int C, int n_local) {
    Dist *d = ctx;
    const size_t per = 1 + 2 * (size_t)C;
    const double *all = gather_pairs(d, be, local, C, n_local); /* per rank: n, sum dz[C], sum dz xhat[C] */
    float *h = host_buf(d, 4 * (size_t)C);
    double n = 0;
    for (int r = 0; r < d->size; r++) n += all[per * r];
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int r = 0; r < d->size; r++) s += all[per * r + 1 + (size_t)k * C + c];
            const float hi = (float)s;
            h[2 * k * C + c] = hi;
            h[2 * k * C + C + c] = (float)(s - hi);
        }
    be->upload(be, global, h, 4 * (size_t)C);
    return n;
}
#endif

void dist_init(Dist *d, int *argc, char ***argv) {
    memset(d, 0, sizeof *d);
    d->rank = 0;
    d->size = 1;
#ifdef DCGAN_HAVE_MPI
    if (!launched_ranks()) return; /* not under mpirun: one process, MPI untouched */
    int provided;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    d->mpi = 1;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &d->size));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    d->bn.ctx = d;
    d->bn.forward = bn_forward;
    d->bn.backward = bn_backward;
#else
    (void)argc;
    (void)argv;
    const int n = launched_ranks();
    if (n > 1)
        die("this dcgan was built without MPI, so it cannot train on %d ranks; install libopenmpi-dev and rebuild "
            "(make clean && make), or run it without mpirun", n);
#endif
}

void dist_finalize(Dist *d) {
    if (d->watchdog_on) {
        d->stop_watchdog = 1;
        pthread_join(d->watchdog, NULL);
        d->watchdog_on = 0;
    }
#ifdef DCGAN_HAVE_MPI
    if (d->mpi) MPI_Finalize();
#endif
    d->mpi = 0;
    free(d->gather);
    free(d->host);
    d->gather = NULL;
    d->host = NULL;
}

int dist_use_device_collectives(Dist *d, Backend *be, int even_alone) {
    d->device_coll = 0;
#ifdef DCGAN_HAVE_MPI
    if ((d->size == 1 && !(even_alone && d->mpi)) || !be->collective_id || !be->collective_init || !be->allreduce_mean)
        return 0;
    unsigned char id[512];
    unsigned long len = 0;
    if (d->rank == 0) len = be->collective_id(be, id, sizeof id);
    MPI_CHECK(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD));
    if (len == 0 || len > sizeof id) {
        if (d->rank == 0) fprintf(stderr, "dcgan: no NCCL id could be made; gradients are averaged through MPI on the host\n");
        return 0;
    }
    MPI_CHECK(MPI_Bcast(id, (int)len, MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD));
    char err[256] = "";
    int ok = be->collective_init(be, id, (size_t)len, d->rank, d->size, err, sizeof err) == 0, all = 0;
    /* every rank must agree, or the ones that joined would wait for the others forever */
    MPI_CHECK(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (!ok) fprintf(stderr, "dcgan: rank %d: NCCL could not start (%s)\n", d->rank, err);
    if (!all) {
        if (d->rank == 0) fprintf(stderr, "dcgan: gradients are averaged through MPI on the host instead of NCCL\n");
        return 0;
    }
    d->device_coll = 1;
#else
    (void)be;
#endif
    return d->device_coll;
}

void dist_grad_average(void *ctx, Backend *be, float *grads, size_t n) {
    Dist *d = ctx;
    if (d->size == 1 && !d->device_coll) return;
#ifdef DCGAN_HAVE_MPI
    if (d->in_graph) { /* recorded into the iteration's graph: no host wait here */
        be->allreduce_mean(be, grads, n);
        return;
    }
    if (d->device_coll) { /* timed from the gradients being ready to their mean being there */
        be->sync(be);
        const double t0 = now_seconds();
        be->allreduce_mean(be, grads, n);
        be->sync(be);
        d->reduce_s += now_seconds() - t0;
        d->reduce_calls++;
        return;
    }
    const double t0 = now_seconds();
    float *h = host_buf(d, n);
    be->download(be, h, grads, n);
    /* reduce to rank 0, scale there, broadcast: every rank gets rank 0's bits */
    MPI_CHECK(MPI_Reduce(d->rank == 0 ? MPI_IN_PLACE : h, d->rank == 0 ? h : NULL, (int)n, MPI_FLOAT, MPI_SUM, 0,
                         MPI_COMM_WORLD));
    if (d->rank == 0) {
        const float inv = 1.0f / (float)d->size;
        for (size_t i = 0; i < n; i++) h[i] *= inv;
    }
    MPI_CHECK(MPI_Bcast(h, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD));
    be->upload(be, grads, h, n);
    d->reduce_s += now_seconds() - t0;
    d->reduce_calls++;
#else
    (void)be; (void)grads; (void)n;
#endif
}

void dist_time_device_average(Dist *d, Backend *be, float *d_block, size_t n_d, float *g_block, size_t n_g,
                              int g_steps, int reps) {
    if (!d->in_graph || reps < 1) return;
    d->in_graph = 0; /* timed the way the op-by-op path is timed, call by call */
    d->reduce_s = 0;
    d->reduce_calls = 0;
    for (int r = 0; r < reps; r++) {
        dist_grad_average(d, be, d_block, n_d);
        for (int k = 0; k < g_steps; k++) dist_grad_average(d, be, g_block, n_g);
    }
    d->in_graph = 1;
}

void dist_average_host(Dist *d, float *x, size_t n) {
    if (d->size == 1) return;
#ifdef DCGAN_HAVE_MPI
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    for (size_t i = 0; i < n; i++) x[i] /= (float)d->size;
#else
    (void)x; (void)n;
#endif
}

void dist_broadcast(Dist *d, Backend *be, float *dev, size_t n) {
    if (d->size == 1) return;
#ifdef DCGAN_HAVE_MPI
    float *h = host_buf(d, n);
    be->download(be, h, dev, n);
    MPI_CHECK(MPI_Bcast(h, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD));
    be->upload(be, dev, h, n);
#else
    (void)be; (void)dev; (void)n;
#endif
}

void dist_allgather_u32(Dist *d, uint32_t v, uint32_t *all) {
#ifdef DCGAN_HAVE_MPI
    if (d->size > 1) {
        MPI_CHECK(MPI_Allgather(&v, 1, MPI_UINT32_T, all, 1, MPI_UINT32_T, MPI_COMM_WORLD));
        return;
    }
#endif
    (void)d;
    all[0] = v;
}

static void *watchdog_main(void *arg) {
    Dist *d = arg;
    while (!d->stop_watchdog) {
        usleep(200 * 1000);
        if (now_seconds() - d->heartbeat > d->timeout_s) {
            fprintf(stderr, "dcgan: rank %d of %d: no progress for %.0f s: another rank died or hangs; ending the job. "
                            "%s\n", d->rank, d->size, d->timeout_s, d->where);
            fflush(stderr);
            _exit(1);
        }
    }
    return NULL;
}

void dist_watchdog_start(Dist *d, double timeout_s, const char *where) {
    if (d->size == 1 || timeout_s <= 0) return;
    d->timeout_s = timeout_s;
    snprintf(d->where, sizeof d->where, "%s", where);
    d->heartbeat = now_seconds();
    d->stop_watchdog = 0;
    if (pthread_create(&d->watchdog, NULL, watchdog_main, d) != 0) die("cannot start the watchdog thread");
    d->watchdog_on = 1;
}

void dist_heartbeat(Dist *d) { d->heartbeat = now_seconds(); }
