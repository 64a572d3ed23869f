/* kernel_trace.c: where the GPU time of a graph-replayed training iteration goes, kernel by kernel,
 * as the GPU ran it -- without the waits of the op profile (DCGAN_CUDA_PROFILE=1, op by op), which
 * time each op alone and so overstate small ops and hide the gaps between them.
 *
 * A CUDA injection library: run any program with CUDA_INJECTION64_PATH=/path/libkernel_trace.so and
 * the driver loads it at start-up; it asks CUPTI for the start and end of every kernel, memcpy and
 * memset that ran inside a CUDA graph, and of every cudaGraphLaunch call, and at exit prints, per
 * graph launch (one training iteration in `dcgan bench` and `dcgan train`):
 *   - span (first start to last end), busy (the union of the activities' intervals: some overlap,
 *     from the side stream), and idle (span - busy: the gaps between dependent nodes);
 *   - busy split into our kernels (names k_...), the libraries' kernels (cuDNN, cuBLAS) and copies;
 *   - the names with the most time: us per iteration, calls per iteration, us per call.
 * An experiment for issue 4 (bench/gpu/NOTES.md), not part of dcgan. Environment:
 *   KERNEL_TRACE_SKIP=N   leave out the first N graph launches (default 2)
 *   KERNEL_TRACE_TOP=N    how many names to list (default 40)
 *   KERNEL_TRACE_OUT=FILE write the report there (default stderr)
 *
 * build: tools/gpu_bundle.sh (CUPTI 13.0's headers and library from PyPI's nvidia-cuda-cupti wheel).
 * The report itself is checked without a GPU: cc -DKERNEL_TRACE_SELFTEST bench/gpu/kernel_trace.c
 * builds a program that feeds it known intervals and checks the sums (make test runs it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strdup */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what is kept of each record ---- */
enum { ACT_KERNEL, ACT_MEMCPY, ACT_MEMSET };
typedef struct {
    uint64_t start, end; /* ns */
    uint32_t corr;       /* the correlation id: that of the cudaGraphLaunch that ran it */
    int name;            /* index into names */
    int kind;            /* ACT_* */
} Act;

typedef struct {
    Act *acts;
    size_t nacts, cap;
    uint32_t *launches; /* correlation ids of cudaGraphLaunch calls, in order */
    size_t nlaunches, lcap;
    char **names;
    int nnames;
    size_t ncap;
} Trace;

static void *grow_array(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(p, c * size);
    if (!q) { fprintf(stderr, "kernel_trace: out of memory\n"); exit(1); }
    *cap = c;
    return q;
}

static int intern(Trace *t, const char *name) {
    if (!name) name = "(no name)";
    for (int i = t->nnames - 1; i >= 0; i--)
        if (!strcmp(t->names[i], name)) return i;
    t->names = (char **)grow_array(t->names, &t->ncap, (size_t)t->nnames + 1, sizeof(char *));
    t->names[t->nnames] = strdup(name);
    return t->nnames++;
}

static void add_act(Trace *t, int kind, const char *name, uint64_t start, uint64_t end, uint32_t corr) {
    t->acts = (Act *)grow_array(t->acts, &t->cap, t->nacts + 1, sizeof(Act));
    Act *a = &t->acts[t->nacts++];
    a->start = start;
    a->end = end > start ? end : start;
    a->corr = corr;
    a->kind = kind;
    a->name = intern(t, name);
}

static void trace_free(Trace *t) {
    for (int i = 0; i < t->nnames; i++) free(t->names[i]);
    free(t->names), free(t->acts), free(t->launches);
    memset(t, 0, sizeof *t);
}

static void add_launch(Trace *t, uint32_t corr) {
    t->launches = (uint32_t *)grow_array(t->launches, &t->lcap, t->nlaunches + 1, sizeof(uint32_t));
    t->launches[t->nlaunches++] = corr;
}

/* ---- the report ---- */

/* a readable name: the identifier of an Itanium-mangled one (_Z11k_bn_applyPf... -> k_bn_apply,
 * _ZN5cudnn3foo... -> cudnn::foo), the rest as it is, cut to fit */
static void short_name(char *out, size_t cap, const char *m) {
    out[0] = 0;
    if (strncmp(m, "_Z", 2) != 0) { snprintf(out, cap, "%.90s", m); return; }
    const char *p = m + 2;
    const int nested = *p == 'N';
    if (nested) p++;
    size_t n = 0;
    while (*p >= '0' && *p <= '9') {
        char *e;
        const long len = strtol(p, &e, 10);
        if (len <= 0 || (size_t)len > strlen(e)) break;
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%.*s", n ? "::" : "", (int)len, e);
        if (n >= cap) break;
        p = e + len;
        if (!nested) break; /* (template arguments, I...E, follow the name: not digits, so the loop ends) */
    }
    if (!out[0]) snprintf(out, cap, "%.90s", m);
}

static int is_ours(const char *shortname) { return !strncmp(shortname, "k_", 2); }

static int by_corr_start(const void *a, const void *b) {
    const Act *x = (const Act *)a, *y = (const Act *)b;
    if (x->corr != y->corr) return x->corr < y->corr ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

typedef struct { double us, calls; int name; } NameSum;
static int by_time(const void *a, const void *b) {
    const NameSum *x = (const NameSum *)a, *y = (const NameSum *)b;
    return x->us < y->us ? 1 : x->us > y->us ? -1 : 0;
}

typedef struct { /* per iteration, averaged over the iterations counted */
    long iters;
    double span, busy, idle, ours, lib, copies, nodes;
} Summary;

/* Adds the activities of one graph launch, acts[i..j) (sorted by start), to s and the name sums */
static void add_group(Summary *s, const Act *acts, size_t i, size_t j, char (*shortn)[128], double *name_us,
                      double *name_calls) {
    uint64_t first = acts[i].start, last = 0, busy = 0, cur_s = 0, cur_e = 0;
    for (size_t k = i; k < j; k++) { /* merge the intervals */
        const Act *a = &acts[k];
        if (a->end > last) last = a->end;
        if (k == i || a->start > cur_e) {
            busy += cur_e - cur_s;
            cur_s = a->start;
            cur_e = a->end;
        } else if (a->end > cur_e) cur_e = a->end;
        const double us = (double)(a->end - a->start) / 1e3;
        name_us[a->name] += us;
        name_calls[a->name] += 1;
        if (a->kind != ACT_KERNEL) s->copies += us;
        else if (is_ours(shortn[a->name])) s->ours += us;
        else s->lib += us;
    }
    busy += cur_e - cur_s;
    s->span += (double)(last - first) / 1e3;
    s->busy += (double)busy / 1e3;
    s->nodes += (double)(j - i);
    s->iters++;
}

/* the end of the group (one correlation id) that starts at acts[i]; acts sorted by_corr_start */
static size_t group_end(const Trace *t, size_t i) {
    size_t j = i;
    while (j < t->nacts && t->acts[j].corr == t->acts[i].corr) j++;
    return j;
}

static int is_launch(const Trace *t, uint32_t corr) {
    for (size_t k = 0; k < t->nlaunches; k++)
        if (t->launches[k] == corr) return 1;
    return 0;
}

/* Prints the report to f; returns the summary (for the self-test). The activities of one graph
 * launch share its correlation id (CUPTI gives a graph's nodes the launch's); where the ids turn
 * out not to group them (as many groups as activities), everything traced is taken as one window
 * and divided by the number of launches, and the report says so. */
static Summary report(Trace *t, FILE *f, long skip, int top) {
    Summary s;
    memset(&s, 0, sizeof s);
    const int nn = t->nnames;
    double *name_us = (double *)calloc((size_t)nn + 1, sizeof(double)), *name_calls = (double *)calloc((size_t)nn + 1, sizeof(double));
    char (*shortn)[128] = (char (*)[128])calloc((size_t)nn + 1, 128);
    if (!name_us || !name_calls || !shortn) { fprintf(stderr, "kernel_trace: out of memory\n"); exit(1); }
    for (int i = 0; i < nn; i++) short_name(shortn[i], sizeof shortn[i], t->names[i]);
    qsort(t->acts, t->nacts, sizeof(Act), by_corr_start);
    long groups = 0, matched = 0;
    for (size_t i = 0; i < t->nacts; i = group_end(t, i)) {
        groups++;
        matched += is_launch(t, t->acts[i].corr);
    }
    const int window = t->nacts > 1 && (size_t)groups * 2 > t->nacts;
    if (window) { /* one group: all of it, per launch */
        for (size_t i = 0; i < t->nacts; i++) t->acts[i].corr = 0;
        qsort(t->acts, t->nacts, sizeof(Act), by_corr_start);
        add_group(&s, t->acts, 0, t->nacts, shortn, name_us, name_calls);
        s.iters = t->nlaunches > 0 ? (long)t->nlaunches : 1;
        fprintf(f, "kernel_trace: the correlation ids do not group the %zu graph activities by launch (%ld groups): the whole "
                   "window over %ld launches, warm-up included, its gaps between launches counted as idle\n",
                t->nacts, groups, s.iters);
    } else {
        long seen = 0;
        for (size_t i = 0, j; i < t->nacts; i = j) {
            j = group_end(t, i);
            /* with launch records that match, only the groups of launches (not eager work) count */
            if (matched && !is_launch(t, t->acts[i].corr)) continue;
            if (seen++ >= skip) add_group(&s, t->acts, i, j, shortn, name_us, name_calls);
        }
        fprintf(f, "kernel_trace: %zu graph launches, %ld groups of graph activities (%ld of them launches'), %ld counted "
                   "(the first %ld left out)\n", t->nlaunches, groups, matched, s.iters, skip);
    }
    if (s.iters == 0) {
        fprintf(f, "kernel_trace: no graph-replayed iteration to report (run with graphs, more steps than KERNEL_TRACE_SKIP)\n");
        free(name_us), free(name_calls), free(shortn);
        return s;
    }
    const double n = (double)s.iters;
    s.span /= n, s.busy /= n, s.ours /= n, s.lib /= n, s.copies /= n, s.nodes /= n;
    s.idle = s.span - s.busy;
    fprintf(f, "per iteration: span %.1f us, busy %.1f us (%.1f%%), idle %.1f us (%.1f%%); %.0f nodes, %.2f us idle a node\n",
            s.span, s.busy, 100.0 * s.busy / s.span, s.idle, 100.0 * s.idle / s.span, s.nodes, s.idle / s.nodes);
    fprintf(f, "kernel time (side-stream work that overlaps counted in full): libraries (cuDNN, cuBLAS) %.1f us, ours "
               "(k_*) %.1f us, memcpy/memset %.1f us\n", s.lib, s.ours, s.copies);
    NameSum *ns = (NameSum *)calloc((size_t)nn + 1, sizeof(NameSum));
    if (!ns) { fprintf(stderr, "kernel_trace: out of memory\n"); exit(1); }
    for (int i = 0; i < nn; i++) ns[i] = (NameSum){name_us[i] / n, name_calls[i] / n, i};
    qsort(ns, (size_t)nn, sizeof(NameSum), by_time);
    fprintf(f, "%10s %8s %9s %6s  %s\n", "us/iter", "calls", "us/call", "busy%", "name");
    for (int i = 0; i < nn && i < top && ns[i].calls > 0; i++)
        fprintf(f, "%10.1f %8.1f %9.2f %6.1f  %s\n", ns[i].us, ns[i].calls, ns[i].us / ns[i].calls, 100.0 * ns[i].us / s.busy,
                shortn[ns[i].name]);
    free(ns), free(name_us), free(name_calls), free(shortn);
    return s;
}

#ifdef KERNEL_TRACE_SELFTEST
/* Three iterations of a known timeline; the first is left out (skip 1). Each: a library kernel on
 * [0, 10] us, one of ours on [12, 20] and another of ours beside it on [15, 30] (the side stream),
 * a memset on [31, 33]: span 33, busy 10 + 18 + 2 = 30, idle 3; ours 8 + 15, library 10, copies 2.
 * A group whose correlation id is not a graph launch (an eager kernel) must not count. Then the
 * same timeline twice with a correlation id of its own on every activity: the window over both,
 * per launch. */
static int fails = 0, checks = 0;
static void check(const char *what, double got, double want) {
    const int ok = got > want - 1e-6 && got < want + 1e-6;
    printf("%s %s: %.6f (expected %.6f)\n", ok ? "PASS" : "FAIL", what, got, want);
    fails += !ok;
    checks++;
}
static void timeline(Trace *t, uint64_t o, uint32_t corr, uint32_t step) {
    /* out of order, as CUPTI's buffers may give them */
    add_act(t, ACT_KERNEL, "_Z12k_bn_grad_dxPfPKfS1_", o + 15000, o + 30000, corr);
    add_act(t, ACT_KERNEL, "sm90_xmma_fprop_implicit_gemm_tf32f32", o, o + 10000, corr + step);
    add_act(t, ACT_MEMSET, "memset", o + 31000, o + 33000, corr + 2 * step);
    add_act(t, ACT_KERNEL, "_Z11k_pack_nhwcIfEvPT_PKfiiii", o + 12000, o + 20000, corr + 3 * step);
}
int main(void) {
    Trace t;
    memset(&t, 0, sizeof t);
    for (uint32_t it = 0; it < 3; it++) {
        add_launch(&t, 100 + 7 * it);
        timeline(&t, 1000000u * (it + 1), 100 + 7 * it, 0);
    }
    add_act(&t, ACT_KERNEL, "_Z5k_bcePfS_", 50, 5000000, 3); /* not from a graph launch */
    Summary s = report(&t, stdout, 1, 10);
    check("iterations counted", (double)s.iters, 2);
    check("span us", s.span, 33);
    check("busy us", s.busy, 30);
    check("idle us", s.idle, 3);
    check("ours us", s.ours, 23);
    check("library us", s.lib, 10);
    check("copies us", s.copies, 2);
    check("nodes", s.nodes, 4);

    Trace w;
    memset(&w, 0, sizeof w);
    for (uint32_t it = 0; it < 2; it++) {
        add_launch(&w, 1 + it);
        timeline(&w, 1000000u * (it + 1), 11 + it, 2);
    }
    s = report(&w, stdout, 1, 10);
    check("window: span us per launch", s.span, (2033.0 - 1000.0) / 2);
    check("window: busy us per launch", s.busy, 30);
    check("window: ours us per launch", s.ours, 23);
    check("window: nodes per launch", s.nodes, 4);
    trace_free(&t);
    trace_free(&w);

    char b[128];
    short_name(b, sizeof b, "_Z11k_pack_nhwcIfEvPT_PKfiiii");
    check("short name of a template kernel is k_pack_nhwc", strcmp(b, "k_pack_nhwc") == 0, 1);
    short_name(b, sizeof b, "_Z12k_bn_grad_dxPfPKfS1_");
    check("short name of k_bn_grad_dx", strcmp(b, "k_bn_grad_dx") == 0, 1);
    short_name(b, sizeof b, "_ZN5cudnn6fusion4convEv");
    check("short name of a nested one is cudnn::fusion::conv", strcmp(b, "cudnn::fusion::conv") == 0, 1);
    printf("kernel_trace selftest: %d passed, %d failed\n", checks - fails, fails);
    return fails != 0;
}
#else
/* ---- CUPTI: the records, at exit the report ---- */
#include <cupti.h>
#include <pthread.h>

static Trace g_trace; /* the one trace of this process: CUPTI's callbacks carry no user pointer */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
#define BUF_BYTES ((size_t)8 << 20)

#define CUPTI(x)                                                                                                       \
    do {                                                                                                               \
        CUptiResult r_ = (x);                                                                                          \
        if (r_ != CUPTI_SUCCESS) {                                                                                     \
            const char *m_ = "?";                                                                                      \
            cuptiGetResultString(r_, &m_);                                                                             \
            fprintf(stderr, "kernel_trace: %s: %s\n", #x, m_);                                                         \
            return 0;                                                                                                  \
        }                                                                                                              \
    } while (0)

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
    *buffer = (uint8_t *)aligned_alloc(8, BUF_BYTES);
    *size = *buffer ? BUF_BYTES : 0;
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid) {
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *r = NULL;
    pthread_mutex_lock(&g_lock);
    while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS) {
        if (r->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || r->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
            const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)r;
            if (k->graphId) add_act(&g_trace, ACT_KERNEL, k->name, k->start, k->end, k->correlationId);
        } else if (r->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
            const CUpti_ActivityMemcpy6 *m = (const CUpti_ActivityMemcpy6 *)r;
            if (m->graphId) add_act(&g_trace, ACT_MEMCPY, "memcpy", m->start, m->end, m->correlationId);
        } else if (r->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
            const CUpti_ActivityMemset4 *m = (const CUpti_ActivityMemset4 *)r;
            if (m->graphId) add_act(&g_trace, ACT_MEMSET, "memset", m->start, m->end, m->correlationId);
        } else if (r->kind == CUPTI_ACTIVITY_KIND_RUNTIME) {
            const CUpti_ActivityAPI *a = (const CUpti_ActivityAPI *)r;
            if (a->cbid == CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000 ||
                a->cbid == CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000)
                add_launch(&g_trace, a->correlationId);
        }
    }
    size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS && dropped)
        fprintf(stderr, "kernel_trace: %zu records dropped\n", dropped);
    pthread_mutex_unlock(&g_lock);
    free(buffer);
}

static void at_exit(void) {
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    const char *path = getenv("KERNEL_TRACE_OUT");
    FILE *f = path && *path ? fopen(path, "w") : stderr;
    if (!f) { fprintf(stderr, "kernel_trace: cannot write %s\n", path); f = stderr; }
    const char *skip = getenv("KERNEL_TRACE_SKIP"), *top = getenv("KERNEL_TRACE_TOP");
    pthread_mutex_lock(&g_lock);
    report(&g_trace, f, skip ? atol(skip) : 2, top ? atoi(top) : 40);
    trace_free(&g_trace);
    pthread_mutex_unlock(&g_lock);
    if (f != stderr) fclose(f);
}

/* before a context goes, its records are taken (a program may destroy it before exit) */
static void CUPTIAPI on_resource(void *user, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void *data) {
    (void)user, (void)data;
    if (domain == CUPTI_CB_DOMAIN_RESOURCE && cbid == CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING)
        cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
}

/* called by the CUDA driver when CUDA_INJECTION64_PATH names this library; 1: loaded */
int InitializeInjection(void) {
    static CUpti_SubscriberHandle sub;
    CUPTI(cuptiSubscribe(&sub, (CUpti_CallbackFunc)on_resource, NULL));
    CUPTI(cuptiEnableCallback(1, sub, CUPTI_CB_DOMAIN_RESOURCE, CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING));
    CUPTI(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
    CUPTI(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL));
    CUPTI(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY));
    CUPTI(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET));
    /* only the graph launches of the runtime's calls */
    if (cuptiActivityEnableRuntimeApi(CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000, 1) != CUPTI_SUCCESS ||
        cuptiActivityEnableRuntimeApi(CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000, 1) != CUPTI_SUCCESS)
        CUPTI(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME));
    atexit(at_exit);
    fprintf(stderr, "kernel_trace: tracing the kernels of CUDA graphs (report at exit)\n");
    return 1;
}
#endif
