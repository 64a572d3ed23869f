/* cmd_train.c: `dcgan train`, the training run: data, model, the step loop, samples, logs,
 * loss plots, checkpoints, resume and clean interruption. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../data/classes.h"
#include "../data/dataset.h"
#include "../data/loader.h"
#include "../dist/dist.h"
#include "../eval/evaluate.h"
#include "../io/checkpoint.h"
#include "../io/fileio.h"
#include "../io/image_io.h"
#include "../io/report.h"
#include "../io/runlog.h"
#include "../io/tensorboard.h"
#include "../io/writer.h"
#include "../ops/op_math.h"
#include "../train/gan.h"
#include "../train/health.h"
#include "../train/sampler.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Set by SIGINT/SIGTERM; the loop finishes its step, checkpoints and exits. The one piece of
 * process-wide state, as a signal handler can only reach globals. */
static volatile sig_atomic_t g_stop_signal = 0;
static void on_signal(int sig) { g_stop_signal = sig; }

#define SAMPLE_N 64   /* the real grid, and the progress grid of an unconditional model: 8 x 8 */
#define SAMPLE_COLS RUN_GRID_COLS

/* The fixed inputs of the progress grids: 8 x 8 z, or for a conditional model one row per class
 * (up to 16) with the same 8 z in every row, so that a column keeps its z and a row its class. */
typedef struct {
    int n;
    float *z;        /* (n, nz) */
    int32_t *labels; /* (n) or NULL */
} ProgressGrid;

static void progress_grid_init(ProgressGrid *pg, const ModelConfig *mc, ZDist zdist, uint64_t seed) {
    const int rows = mc->nclasses ? (mc->nclasses < 16 ? mc->nclasses : 16) : SAMPLE_N / SAMPLE_COLS;
    pg->n = rows * SAMPLE_COLS;
    pg->z = xmalloc((size_t)pg->n * mc->nz * sizeof(float));
    pg->labels = NULL;
    const int distinct = mc->nclasses ? SAMPLE_COLS : pg->n;
    Rng zr;
    rng_seed(&zr, seed, 5);
    if (zdist == Z_UNIFORM) rng_fill_uniform(&zr, pg->z, (size_t)distinct * mc->nz, -1.0f, 1.0f);
    else rng_fill_normal(&zr, pg->z, (size_t)distinct * mc->nz, 0.0f, 1.0f);
    if (mc->nclasses) {
        for (int i = distinct; i < pg->n; i++)
            memcpy(pg->z + (size_t)i * mc->nz, pg->z + (size_t)(i % SAMPLE_COLS) * mc->nz, (size_t)mc->nz * sizeof(float));
        pg->labels = xmalloc((size_t)pg->n * sizeof(int32_t));
        grid_labels(pg->labels, pg->n, SAMPLE_COLS, mc->nclasses);
    }
}

static void progress_grid_free(ProgressGrid *pg) {
    free(pg->z);
    free(pg->labels);
}

/* What the writer's jobs (io/writer.h) share: only they touch it while the writer runs (but for
 * log_sent, the trainer's), and the trainer after writer_drain. */
typedef struct {
    const char *out;  /* the run folder */
    int keep;         /* checkpoints to keep */
    TbWriter *tb;     /* the TensorBoard log (its own lock), or one that is not open */
    SpreadCache spreads; /* of the grids written (train/health.h), each measured once */
    Log log;          /* the writer's copy of the training log, extended by each report job */
    long log_sent;    /* (the trainer's) rows of its log already handed to a report job */
    /* The loss plots and index.html are rewritten with the sample grids, but never so often that
     * they take more than about a tenth of the run: after a rewrite that took t seconds the next
     * waits 10 t (a GPU iteration takes milliseconds; a rewrite at 64x64 RGB about 0.2 s on 2
     * cores). The run's last rewrite always happens. */
    double report_at, report_cost;
} RunFiles;

/* The four loss curves as DIR/<name>.png. */
static int write_plots(const char *out, const Log *log, char *err, size_t errlen) {
    static const char *names[4] = {"d_loss_real", "d_loss_fake", "d_loss", "g_loss"};
    if (log->n < 2) return 0;
    double *x = xmalloc(log->n * sizeof(double)), *y = xmalloc(log->n * sizeof(double));
    int rc = 0;
    for (int k = 0; k < 4 && rc == 0; k++) {
        for (long i = 0; i < log->n; i++) { x[i] = (double)log->r[i].step; y[i] = log->r[i].v[k]; }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.png", out, names[k]);
        rc = png_write_plot(path, names[k], "step", x, y, (int)log->n, err, errlen);
    }
    free(x);
    free(y);
    return rc;
}

/* A grid of images, drawn and measured by the trainer, encoded and written by the writer. */
typedef struct {
    RunFiles *rf;
    char name[64];
    unsigned char *pix; /* (h, w, comp) */
    int w, h, comp;
    long step;          /* the progress grid's step; -1 for the real images */
    double spread;
} GridJob;

static void grid_job_free(void *p) {
    GridJob *j = p;
    free(j->pix);
    free(j);
}

/* Writes DIR/name, adds its spread to the cache and a progress grid to the TensorBoard log. */
static int grid_job_run(void *p, char *err, size_t errlen) {
    GridJob *j = p;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", j->rf->out, j->name);
    unsigned char *png = NULL;
    int len = 0;
    if (png_write_u8(path, j->pix, j->w, j->h, j->comp, &png, &len, err, errlen) != 0) return -1;
    if (j->step < 0) j->rf->spreads.real = j->spread;
    else {
        spread_cache_add(&j->rf->spreads, j->step, j->spread);
        if (j->rf->tb->f) tb_image_png(j->rf->tb, "samples", j->step, wall_seconds(), png, (size_t)len, j->w, j->h, j->comp);
    }
    free(png);
    return 0;
}

/* Queues n images (n, C, S, S) as the grid DIR/name (the progress grid of a step, or the real
 * images with step -1); returns the grid's spread (train/health.h), taken from its pixels. */
static double write_grid(Writer *wr, RunFiles *rf, const char *name, long step, const float *img, int n,
                         const ModelConfig *mc) {
    GridJob *j = xcalloc(1, sizeof *j);
    j->rf = rf;
    snprintf(j->name, sizeof j->name, "%s", name);
    j->pix = grid_to_u8(img, n, mc->channels, mc->size, SAMPLE_COLS, &j->w, &j->h, &j->comp);
    j->step = step;
    j->spread = health_grid_spread(j->pix, j->w, j->h, j->comp, SAMPLE_COLS);
    const double spread = j->spread;
    char err[1024];
    if (writer_submit(wr, grid_job_run, j, grid_job_free, (size_t)j->w * j->h * j->comp, err, sizeof err) != 0)
        die("%s", err);
    return spread;
}

/* The fixed-z grid of G at this step, queued as DIR/name; returns its spread. */
static double write_samples(Writer *wr, RunFiles *rf, const char *name, long step, Sampler *s, const Net *G,
                            const ProgressGrid *pg) {
    const ModelConfig *mc = &s->mc;
    float *img = xmalloc((size_t)pg->n * mc->channels * mc->size * mc->size * sizeof(float));
    sampler_copy_from(s, G);
    sampler_run(s, pg->z, pg->labels, pg->n, 0, img);
    const double spread = write_grid(wr, rf, name, step, img, pg->n, mc);
    free(img);
    return spread;
}

/* CRC-32 of both networks' parameters and Adam moments (what the ranks must agree on bit for bit). */
static uint32_t training_state_crc(Gan *g) {
    uLong crc = crc32(0L, Z_NULL, 0);
    Net *nets[2] = {&g->G, &g->D};
    for (int k = 0; k < 2; k++) {
        float *blocks[3] = {nets[k]->params, nets[k]->adam_m, nets[k]->adam_v};
        float *h = xmalloc((nets[k]->nparams ? nets[k]->nparams : 1) * sizeof(float));
        for (int b = 0; b < 3; b++) {
            g->be->download(g->be, h, blocks[b], nets[k]->nparams);
            crc = crc32(crc, (const Bytef *)h, (uInt)(nets[k]->nparams * sizeof(float)));
        }
        free(h);
    }
    return (uint32_t)crc;
}

/* Scores n samples of the current generator (z from seed, as dcgan eval --seed) and appends a row to
 * DIR/metrics.csv (created with its header), then redraws DIR/fid_lenet.png from the whole file. */
static void evaluate_during_training(Evaluator *ev, const char *out, Gan *g, uint64_t seed, int n) {
    const ModelConfig *mc = &g->mc;
    const size_t per = (size_t)mc->channels * mc->size * mc->size;
    float *z = xmalloc((size_t)n * mc->nz * sizeof(float)), *raw = xmalloc((size_t)n * per * sizeof(float));
    float *img = xmalloc((size_t)n * LENET_SIZE * LENET_SIZE * sizeof(float));
    int32_t *labels = NULL;
    sample_z(z, n, mc->nz, g->tc.zdist, seed);
    if (mc->nclasses) { /* every class in turn, as dcgan eval does */
        labels = xmalloc((size_t)n * sizeof(int32_t));
        grid_labels(labels, n, 1, mc->nclasses);
    }
    Net view; /* the generator the checkpoint's users sample: the moving average when there is one */
    generate_images(g->be, mc, gan_sampling_net(g, &view), z, labels, n, 0, raw);
    to_lenet_input(raw, n, mc->channels, mc->size, img);
    EvalResult r;
    /* per-class accuracy where the LeNet's classes can be the model's */
    evaluator_run(ev, img, mc->nclasses == LENET_CLASSES ? labels : NULL, n, seed, &r);
    free(z); free(raw); free(img); free(labels);
    char path[4300], line[512], err[512];
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    /* keep the rows before this step (a resumed run drops what came after its checkpoint) */
    size_t len = 0;
    uint8_t *old = read_file(path, &len, 1u << 30);
    AtomicFile a;
    if (atomic_open(&a, path, err, sizeof err) != 0) die("%s", err);
    const char *header = r.nclasses ? "step,fid_lenet,kid_lenet,is_lenet,precision,recall,nn_median,memorized,min_class_accuracy\n"
                                    : "step,fid_lenet,kid_lenet,is_lenet,precision,recall,nn_median,memorized\n";
    atomic_write(&a, header, strlen(header));
    int rows = 0;
    double xs[4096], ys[4096];
    if (old) {
        char *save = NULL;
        for (char *l = strtok_r((char *)old, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            long st;
            double f;
            if (sscanf(l, "%ld,%lf", &st, &f) != 2 || st >= g->step) continue;
            atomic_write(&a, l, strlen(l));
            atomic_write(&a, "\n", 1);
            if (rows < 4095) { xs[rows] = (double)st; ys[rows] = f; rows++; }
        }
    }
    free(old);
    int at = snprintf(line, sizeof line, "%ld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f", g->step, r.fid, r.kid, r.is,
                      r.precision, r.recall, r.nn_median, r.memorized);
    if (r.nclasses) at += snprintf(line + at, sizeof line - (size_t)at, ",%.6f", r.min_class_acc);
    snprintf(line + at, sizeof line - (size_t)at, "\n");
    atomic_write(&a, line, strlen(line));
    if (atomic_commit(&a, err, sizeof err) != 0) die("%s", err);
    xs[rows] = (double)g->step;
    ys[rows] = r.fid;
    rows++;
    snprintf(path, sizeof path, "%s/fid_lenet.png", out);
    if (rows >= 2 && png_write_plot(path, "FID-LeNet (lower is better)", "step", xs, ys, rows, err, sizeof err) != 0)
        die("%s", err);
}

/* A rewrite of the run's report as of the log: with a grid, the loss plots and index.html,
 * left out when the last rewrite was too recent (RunFiles); after a score, index.html; at the end
 * of the run, all of them and training.gif. */
typedef enum { REPORT_AT_GRID, REPORT_AT_SCORE, REPORT_FINAL } ReportKind;
typedef struct {
    RunFiles *rf;
    ReportInfo info;
    char state[64];
    LogRow *rows;   /* the log's rows since the last report job: a copy */
    long nrows;
    ReportKind kind;
} ReportJob;

static void report_job_free(void *p) {
    ReportJob *j = p;
    free(j->rows);
    free(j);
}

static int report_job_run(void *p, char *err, size_t errlen) {
    ReportJob *j = p;
    RunFiles *rf = j->rf;
    for (long i = 0; i < j->nrows; i++) log_push(&rf->log, &j->rows[i]);
    const double t0 = now_seconds();
    if (j->kind == REPORT_AT_GRID && t0 - rf->report_at < 10.0 * rf->report_cost) return 0;
    j->info.state = j->state;
    j->info.spreads = &rf->spreads;
    if (j->kind != REPORT_AT_SCORE && write_plots(rf->out, &rf->log, err, errlen) != 0) return -1;
    if (report_write(rf->out, &j->info, &rf->log, err, errlen) != 0) return -1;
    if (j->kind == REPORT_FINAL && report_write_gif(rf->out, err, errlen) < 0) return -1;
    rf->report_at = now_seconds();
    rf->report_cost = rf->report_at - t0;
    return 0;
}

/* Queues a rewrite of the report (ReportKind) as of log, handing over the rows the writer has not
 * seen (so each row is copied once, not at every grid). */
static void write_report(Writer *wr, RunFiles *rf, const CheckpointMeta *meta, const char *backend, int threads,
                         long total, const char *state, const Log *log, ReportKind kind) {
    ReportJob *j = xcalloc(1, sizeof *j);
    j->rf = rf;
    report_info_from_meta(&j->info, meta, backend, threads);
    j->info.total_steps = total;
    snprintf(j->state, sizeof j->state, "%s", state);
    j->nrows = log->n - rf->log_sent;
    j->rows = xmalloc((j->nrows ? j->nrows : 1) * sizeof(LogRow));
    if (j->nrows) memcpy(j->rows, log->r + rf->log_sent, j->nrows * sizeof(LogRow));
    rf->log_sent = log->n;
    j->kind = kind;
    char err[1024];
    if (writer_submit(wr, report_job_run, j, report_job_free, sizeof *j + j->nrows * sizeof(LogRow), err, sizeof err) != 0)
        die("%s", err);
}

/* Deletes all but the newest `keep` ckpt_*.dcgan files in dir. */
static void prune_checkpoints(const char *dir, int keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    long steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        long s;
        char tail[8];
        if (sscanf(e->d_name, "ckpt_%ld.dcgan%7s", &s, tail) == 1) steps[n++] = s;
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer >= keep) {
            char path[4200];
            snprintf(path, sizeof path, "%s/ckpt_%08ld.dcgan", dir, steps[i]);
            unlink(path);
        }
    }
}

/* A checkpoint's bytes, taken by the trainer, checksummed and written by the writer. */
typedef struct {
    RunFiles *rf;
    char path[4200];
    uint8_t *data;
    size_t len;
} CheckpointJob;

static void checkpoint_job_free(void *p) {
    CheckpointJob *j = p;
    free(j->data);
    free(j);
}

static int checkpoint_job_run(void *p, char *err, size_t errlen) {
    CheckpointJob *j = p;
    char e[1024];
    if (checkpoint_write(j->path, j->data, j->len, e, sizeof e) != 0) {
        snprintf(err, errlen, "%s (the previous checkpoint is intact)", e);
        return -1;
    }
    prune_checkpoints(j->rf->out, j->rf->keep);
    return 0;
}

/* Takes the training state now and queues it as DIR/ckpt_<step>.dcgan. */
static void save_checkpoint(Writer *wr, RunFiles *rf, Gan *g, CheckpointMeta *m) {
    CheckpointJob *j = xcalloc(1, sizeof *j);
    j->rf = rf;
    snprintf(j->path, sizeof j->path, "%s/ckpt_%08ld.dcgan", rf->out, g->step);
    m->step = g->step;
    m->adam_t_d = g->adam_t_d;
    m->adam_t_g = g->adam_t_g;
    char err[1024];
    if (checkpoint_encode(g, m, &j->data, &j->len, err, sizeof err) != 0)
        die("not writing %s: %s (the previous checkpoint is intact)", j->path, err);
    if (writer_submit(wr, checkpoint_job_run, j, checkpoint_job_free, j->len, err, sizeof err) != 0) die("%s", err);
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) { snprintf(buf, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static int parse_color(const char *s, uint8_t rgb[3]) {
    if (!strcmp(s, "white")) { rgb[0] = rgb[1] = rgb[2] = 255; return 0; }
    if (!strcmp(s, "black")) { rgb[0] = rgb[1] = rgb[2] = 0; return 0; }
    unsigned v;
    if (s[0] == '#' && strlen(s) == 7 && sscanf(s + 1, "%06x", &v) == 1) {
        rgb[0] = v >> 16; rgb[1] = (v >> 8) & 255; rgb[2] = v & 255;
        return 0;
    }
    return -1;
}

/* 1 when the command line has --name or --name=VALUE */
static int option_given(int argc, char **argv, const char *name) {
    const size_t n = strlen(name);
    for (int i = 2; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n) && (argv[i][2 + n] == 0 || argv[i][2 + n] == '='))
            return 1;
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *arch = NULL, *loss = "ns", *zdist = "normal",
               *resume = NULL, *device = "cpu", *background = "white",
               *precision = NULL;
    int size = 0, channels = 0, nz = 0, gf = 0, df = 0, batch = 64, g_steps = 2, threads = 0, sample_every = 200,
        checkpoint_every = 500, keep = 3, no_crop = 0, quiet = 0, no_tensorboard = 0, sync_bn = 0, reshard = 0,
        eval_every = 0, eval_n = 2000, conditional = 0, flip = 0;
    const char *eval_reference = NULL;
    float dist_timeout = 600;
    long epochs = 0, steps = 0, seed = 1;
    float lr = 2e-4f, beta1 = 0.5f, class_loss = 1.0f, real_label = 1.0f;
    const char *lr_decay_s = NULL;
    const char *ema_s = NULL;
    const OptSpec spec[] = {
        {"data", OPT_STR, &data, "training images: a folder (searched recursively), an IDX file, or a folder of IDX files (default " DATASET_DEFAULT_PATH ")", 0, -1},
        {"out", OPT_STR, &out, "run folder for samples, logs, plots and checkpoints (default runs/<date-time>)", 0, -1},
        {"arch", OPT_STR, &arch, "model family: dcgan (pytorch/examples) or seed (the article's) (default dcgan)", 0, -1},
        {"size", OPT_INT, &size, "image side (default 32 for IDX data, 64 for folders)", 1, 4096},
        {"channels", OPT_INT, &channels, "1 or 3 (default 1 for IDX data, 3 for folders)", 1, 3},
        {"nz", OPT_INT, &nz, "latent size (default 100)", 1, 4096},
        {"gf", OPT_INT, &gf, "generator base width (default 64)", 1, 1024},
        {"df", OPT_INT, &df, "discriminator base width (default 64)", 1, 1024},
        {"batch", OPT_INT, &batch, "batch size", 1, 1 << 20},
        {"epochs", OPT_LONG, &epochs, "length of the run in epochs (default 5 when --steps is not given)", 1, 1e9},
        {"steps", OPT_LONG, &steps, "length of the run in iterations, counted from the start (also when resuming) (default: set by --epochs)", 1, 1e12},
        {"lr", OPT_FLOAT, &lr, "Adam learning rate", 1e-9, 1},
        {"beta1", OPT_FLOAT, &beta1, "Adam beta1", 0, 0.9999},
        {"lr-decay-from", OPT_STR, &lr_decay_s,
         "after this many iterations, or this share of the run (50%), the learning rate falls linearly to 0 at the "
         "run's last step (Radford et al.'s niter_decay) (default: no decay)", 0, -1},
        {"conditional", OPT_FLAG, &conditional,
         "class-conditional on the one-hot class label (IDX labels, or one subfolder per class)", 0, -1},
        {"class-loss", OPT_FLOAT, &class_loss,
         "with --conditional: weight of the loss of D's classifier (AC-GAN); 0: no classifier, D sees the label (carpedm20)", 0, 100},
        {"ema", OPT_STR, &ema_s,
         "keep a moving average of G's weights with this decay (e.g. 0.999) for sample, eval and export (default 0: none)", 0, -1},
        {"g-steps", OPT_INT, &g_steps, "generator updates per discriminator update", 1, 100},
        {"real-label", OPT_FLOAT, &real_label,
         "D's target on real images; 0.9 is one-sided label smoothing (Salimans et al. 2016), against a D that wins", 0.5, 1},
        {"loss", OPT_STR, &loss, "generator loss: ns (non-saturating) or minimax", 0, -1},
        {"z-dist", OPT_STR, &zdist, "latent distribution: normal or uniform", 0, -1},
        {"seed", OPT_LONG, &seed, "random seed (weights, z, data order)", 0, 9.2e18},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"device", OPT_STR, &device, "cpu or cuda", 0, -1},
        {"precision", OPT_STR, &precision, PRECISION_HELP, 0, -1},
        {"sample-every", OPT_INT, &sample_every, "write a sample grid every N iterations (0: only at epoch ends)", 0, 1 << 30},
        {"checkpoint-every", OPT_INT, &checkpoint_every, "write a checkpoint every N iterations (0: only at the end)", 0, 1 << 30},
        {"keep", OPT_INT, &keep, "checkpoints to keep", 1, 1000000},
        {"resume", OPT_STR, &resume, "continue the run in this folder from its newest checkpoint", 0, -1},
        {"background", OPT_STR, &background, "colour under transparent pixels: white, black or #rrggbb", 0, -1},
        {"no-crop", OPT_FLAG, &no_crop, "squash images to a square instead of center-cropping", 0, -1},
        {"flip", OPT_FLAG, &flip,
         "mirror each training image left-right at random (a new draw every epoch); not for data whose sides differ, such as digits", 0, -1},
        {"no-tensorboard", OPT_FLAG, &no_tensorboard, "do not write TensorBoard event files into the run folder", 0, -1},
        {"eval-every", OPT_INT, &eval_every, "score the samples (dcgan eval) every N iterations into metrics.csv (0: never)", 0, 1 << 30},
        {"eval-n", OPT_INT, &eval_n, "images scored at each --eval-every", 2, 1000000},
        {"eval-reference", OPT_STR, &eval_reference, "real images to score against (default: the training data)", 0, -1},
        {"sync-bn", OPT_FLAG, &sync_bn, "under mpirun: batch norm over the global batch (default: per rank)", 0, -1},
        {"reshard", OPT_FLAG, &reshard, "allow --resume with another rank count (the data order changes)", 0, -1},
        {"dist-timeout", OPT_FLOAT, &dist_timeout,
         "under mpirun: end the job when a rank makes no progress for this many seconds", 1, 1e6},
        {"quiet", OPT_FLAG, &quiet, "print nothing but errors", 0, -1},
    };
    opts_parse("train", "Trains a DCGAN on a folder of images or MNIST-style IDX files (default: Fashion-MNIST).", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    /* the run folder's files are written on a thread of their own (io/writer.h), or with
     * DCGAN_SYNC_WRITES=1 in the training loop */
    const int sync_writes = env_switch("DCGAN_SYNC_WRITES", 0, "use 1 (the run folder's files written in the training "
                                       "loop), 0 (on a thread of their own)");
    /* --lr-decay-from: iterations, or a share of the run ("50%") resolved once its length is known */
    double lr_decay_v = 0;
    int lr_decay_pct = 0;
    if (lr_decay_s) {
        char *end = NULL;
        lr_decay_v = strtod(lr_decay_s, &end);
        lr_decay_pct = end != lr_decay_s && !strcmp(end, "%");
        const int ok = end != lr_decay_s && lr_decay_v >= 0 &&
                       (lr_decay_pct ? lr_decay_v < 100 : !*end && lr_decay_v == floor(lr_decay_v) && lr_decay_v < 1e15);
        if (!ok)
            die("train: --lr-decay-from '%s' is neither a number of iterations nor a share of the run under 100%% "
                "(such as 50%%)", lr_decay_s);
    }

    TrainConfig tc;
    train_config_default(&tc);
    tc.lr = lr;
    tc.beta1 = beta1;
    tc.g_steps = g_steps;
    tc.real_label = real_label;
    {
        char why[256];
        if (train_config_check(&tc, why, sizeof why) != 0) die("train: %s", why);
    }
    double ema = 0.0;
    if (ema_s) {
        char *end;
        ema = strtod(ema_s, &end);
        if (end == ema_s || *end || !(ema >= 0.0 && ema < 1.0))
            die("train: --ema '%s' is not a decay; use 0 (no average) or a number under 1, such as 0.999", ema_s);
    }
    tc.ema = ema;
    if (!strcmp(loss, "ns")) tc.loss = LOSS_NS;
    else if (!strcmp(loss, "minimax")) tc.loss = LOSS_MINIMAX;
    else die("train: --loss '%s' is unknown; use ns or minimax", loss);
    if (!strcmp(zdist, "normal")) tc.zdist = Z_NORMAL;
    else if (!strcmp(zdist, "uniform")) tc.zdist = Z_UNIFORM;
    else die("train: --z-dist '%s' is unknown; use normal or uniform", zdist);
    uint8_t bg[3];
    if (parse_color(background, bg) != 0) die("train: --background '%s' is not a colour; use white, black or #rrggbb", background);
    if (epochs && steps) die("train: give --epochs or --steps, not both");
    if (class_loss != 1.0f && !conditional && !resume) die("train: --class-loss is for class-conditional models; add --conditional");

    /* under mpirun every rank runs this; rank 0 alone prints and writes files */
    Dist dist;
    dist_init(&dist, &argc, &argv);
    const int root = dist.rank == 0, nranks = dist.size;
    if (!root) quiet = 1;
    if (sync_bn && nranks == 1 && !quiet) printf("train: --sync-bn has no effect on one rank\n");

    if (!data && !resume) data = DATASET_DEFAULT_PATH;
    ModelConfig mc = {ARCH_DCGAN, 0, 0, 100, 64, 64, 0, 0, 0, 0};
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    char ckpt_path[4200] = "", err[1024];
    if (resume) {
        if (out && strcmp(out, resume)) die("train: --resume %s continues in its own folder; drop --out", resume);
        out = resume;
        if (checkpoint_resolve(resume, ckpt_path, sizeof ckpt_path, err, sizeof err) != 0) die("%s", err);
        if (checkpoint_read_meta(ckpt_path, &meta, err, sizeof err) != 0) die("%s", err);
        /* the model and schedule come from the checkpoint; explicit options must agree */
        Arch a;
        if (arch && (arch_parse(arch, &a) != 0 || a != meta.mc.arch))
            die("train: the checkpoint in %s is --arch %s; drop --arch or use a matching run", resume, arch_name(meta.mc.arch));
        if ((size && size != meta.mc.size) || (channels && channels != meta.mc.channels) || (nz && nz != meta.mc.nz) ||
            (gf && gf != meta.mc.gf) || (df && df != meta.mc.df))
            die("train: the checkpoint in %s is size %d, channels %d, nz %d, gf %d, df %d; drop the model options to resume",
                resume, meta.mc.size, meta.mc.channels, meta.mc.nz, meta.mc.gf, meta.mc.df);
        if (meta.nranks != nranks && !reshard)
            die("train: the run in %s was trained on %d rank%s; resume it with mpirun -np %d, or add --reshard to go on "
                "with %d (the data order and z change)", resume, meta.nranks, meta.nranks > 1 ? "s" : "", meta.nranks, nranks);
        if (!meta.data_path[0]) { /* made by dcgan import: no data yet */
            if (!data) die("train: the run in %s has no training data yet (it was imported); give --data PATH", resume);
        } else {
            if (data && strcmp(data, meta.data_path))
                die("train: the run in %s trained on %s; resume without --data (or move it back)", resume, meta.data_path);
            data = meta.data_path;
        }
        if (conditional && !meta.mc.nclasses)
            die("train: the run in %s is not conditional; drop --conditional to resume it", resume);
        /* a resumed run keeps its training settings (that is what makes resume exact) */
        static const char *const fixed[] = {"batch", "lr", "beta1", "g-steps", "loss", "z-dist", "seed", "class-loss",
                                            "real-label", "lr-decay-from"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (option_given(argc, argv, fixed[i]))
                die("train: --%s is fixed by the run in %s (a resumed run keeps its settings; dcgan info shows them); "
                    "drop --%s, or start a new run", fixed[i], resume, fixed[i]);
        no_crop = !meta.crop;
        if (flip && !meta.flip && meta.data_path[0])
            die("train: --flip is fixed by the run in %s, which trained without it (a resumed run keeps its "
                "settings); drop --flip, or start a new run", resume);
        if (meta.data_path[0]) flip = meta.flip; /* an imported run takes --flip with its first data */
        memcpy(bg, meta.background, 3);
        mc = meta.mc;
        tc = meta.tc;
        if (ema_s) tc.ema = ema; /* start, change or drop the average */
        batch = meta.batch;
        seed = (long)meta.seed;
    } else {
        if (arch && arch_parse(arch, &mc.arch) != 0) die("train: --arch '%s' is unknown; use dcgan or seed", arch);
        if (nz) mc.nz = nz;
        if (gf) mc.gf = gf;
        if (df) mc.df = df;
    }

    /* data: its kind sets the defaults for size and channels */
    const int idx_data = dataset_is_idx(data);
    if (!resume) {
        mc.size = size ? size : (idx_data ? 32 : 64);
        mc.channels = channels ? channels : (idx_data ? 1 : 3);
    }
    if (model_config_check(&mc, batch, err, sizeof err) != 0) die("train: %s", err);

    Backend *be = cli_backend(device, precision, threads);
    const int nthreads = threads ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    DatasetOptions dopt = {mc.size, mc.channels, !no_crop, {bg[0], bg[1], bg[2]}, NULL, !quiet};
    Dataset ds;
    double t_load = now_seconds();
    if (dataset_load(&ds, data, &dopt, err, sizeof err) != 0) die("%s", err);
    if (!quiet) {
        printf("data: %d images from %s (%s%s), %dx%dx%d, %.1fs\n", ds.n, data, ds.source,
               ds.from_cache ? ", decoded cache" : "", mc.size, mc.size, mc.channels, now_seconds() - t_load);
        if (ds.skipped) {
            printf("data: skipped %d bad file%s:\n", ds.skipped, ds.skipped > 1 ? "s" : "");
            for (int i = 0; i < ds.skipped && i < DATASET_MAX_REPORT; i++) printf("  %s\n", ds.bad[i]);
            if (ds.skipped > DATASET_MAX_REPORT) printf("  ... and %d more\n", ds.skipped - DATASET_MAX_REPORT);
        }
    }
    if (resume && !meta.data_path[0]) { /* an imported run takes this data (and --flip) from now on */
        meta.data_n = ds.n;
        meta.flip = flip;
        if (!realpath(data, meta.data_path)) snprintf(meta.data_path, sizeof meta.data_path, "%s", data);
    }
    if (resume && meta.data_n != ds.n)
        die("train: the run in %s trained on %d images, but --data %s has %d; resume with the same data", resume,
            meta.data_n, data, ds.n);
    if (conditional && !resume) { /* the classes come from the data */
        if (!ds.labels) {
            if (!strcmp(ds.source, "folder"))
                die("train: --conditional needs labels, and the images of %s lie in no class subfolder; put each "
                    "class's images in its own subfolder (%s/cats/, %s/dogs/, ...)", data, data, data);
            die("train: --conditional needs labels, and %s has none; give IDX data with its labels-idx1 file, or a "
                "folder with one subfolder per class", data);
        }
        if (ds.unlabelled)
            die("train: --conditional: %d image%s of %s lie directly in the folder, outside any class subfolder; move "
                "them into one, or remove them", ds.unlabelled, ds.unlabelled > 1 ? "s" : "", data);
        if (ds.nclasses < 2) {
            char name[CLASS_NAME_MAX];
            classes_name(ds.class_names, 0, name, sizeof name);
            die("train: --conditional needs at least 2 classes, and %s has one (%s); add a subfolder for each other "
                "class, or train without --conditional", data, name);
        }
        model_config_set_classes(&mc, ds.nclasses, class_loss > 0);
        tc.class_weight = class_loss;
        if (model_config_check(&mc, batch, err, sizeof err) != 0) die("train: %s", err);
        snprintf(meta.classes, sizeof meta.classes, "%s", ds.class_names);
    }
    if (resume && mc.nclasses && (ds.nclasses != mc.nclasses || ds.unlabelled))
        die("train: the run in %s is conditional on %d classes, but --data %s now has %d; resume with the same data",
            resume, mc.nclasses, data, ds.nclasses);

    /* run folder */
    char outbuf[256];
    if (!out) {
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        strftime(outbuf, sizeof outbuf, "runs/%Y%m%d-%H%M%S", &tmv);
        out = outbuf;
    }
    if (root) {
        if (mkdir_p(out) != 0) die("train: cannot create the run folder %s: %s; choose another --out", out, strerror(errno));
        char tpath[4300];
        snprintf(tpath, sizeof tpath, "%s/.write-test", out);
        if (write_file_atomic(tpath, "", 0, err, sizeof err) != 0) die("train: the run folder %s is not writable (%s); choose another --out", out, strerror(errno));
        unlink(tpath);
        /* choices the backend makes by timing (the GPU's convolution algorithms) are kept with the
         * run, so that a resumed run makes the same ones (DCGAN_CUDA_ALGOS, where set, wins) */
        if (be->keep_choices && !getenv("DCGAN_CUDA_ALGOS")) {
            snprintf(tpath, sizeof tpath, "%s/cuda_algos.txt", out);
            be->keep_choices(be, tpath);
        }
    }

    Gan g;
    gan_init(&g, be, &mc, &tc, batch, (uint64_t)seed);
    g.rank = dist.rank;
    g.nranks = nranks;
    /* DCGAN_TEST_NCCL_ONE_RANK=1 under mpirun -np 1: the multi-GPU path (NCCL in the graph) on one GPU */
    const char *one_rank_test = getenv("DCGAN_TEST_NCCL_ONE_RANK");
    const int one_rank = nranks == 1 && one_rank_test && atoi(one_rank_test) > 0;
    /* NCCL between GPUs where the backend has it (one rank: only its test) */
    if (nranks > 1 || one_rank) dist_use_device_collectives(&dist, be, one_rank);
    if (nranks > 1 || dist.device_coll) {
        g.grad_average = dist_grad_average;
        g.grad_ctx = &dist;
        if (sync_bn) g.G.sync = g.D.sync = &dist.bn;
        /* NCCL's all-reduces run on the backend's stream, so they go into the iteration's graph
         * with the rest (--sync-bn's collectives go through the host, so that runs op by op) */
        else if (dist.device_coll && be->graph_begin) dist.in_graph = g.grad_in_graph = 1;
    }
    const long bpe = ds.n / ((long)batch * nranks);
    if (bpe < 1 && nranks == 1) die("train: the data has %d images, fewer than one batch of %d; use a smaller --batch", ds.n, batch);
    if (bpe < 1)
        die("train: the data has %d images, fewer than one global batch of %d x %d ranks; use a smaller --batch", ds.n,
            batch, nranks);
    long total = steps ? steps : (epochs ? epochs : 5) * bpe;
    if (resume) {
        if (checkpoint_load(ckpt_path, &g, &meta, err, sizeof err) != 0) die("%s", err);
        meta.tc.ema = tc.ema; /* --ema may start, change or drop the average */
        if (meta.nranks != nranks) { /* --reshard: keep the position in the epoch, in images */
            meta.batch_in_epoch = meta.batch_in_epoch * meta.nranks / nranks;
            if (meta.batch_in_epoch >= bpe) { meta.epoch++; meta.batch_in_epoch = 0; }
            meta.nranks = nranks;
        }
        if (!steps && !epochs) total = meta.step + (5 * bpe - meta.step % (5 * bpe));
        if (total <= meta.step) die("train: the run in %s is already at step %ld; ask for more with --steps N (N > %ld)", resume, meta.step, meta.step);
        if (meta.tc.lr_decay_to && total > meta.tc.lr_decay_to)
            die("train: the learning rate of the run in %s falls to 0 at step %ld (--lr-decay-from %ld), so steps after "
                "it would not train; resume with --steps %ld at most", resume, meta.tc.lr_decay_to, meta.tc.lr_decay_from,
                meta.tc.lr_decay_to);
    } else {
        if (lr_decay_s) { /* the decay ends at the run's last step */
            const long lr_decay_from = lr_decay_pct ? (long)(total * lr_decay_v / 100.0) : (long)lr_decay_v;
            if (lr_decay_from >= total)
                die("train: --lr-decay-from %ld is not before the run's last step, %ld; use a smaller value or more --steps",
                    lr_decay_from, total);
            tc.lr_decay_from = g.tc.lr_decay_from = lr_decay_from;
            tc.lr_decay_to = g.tc.lr_decay_to = total;
        }
        meta.mc = mc; meta.tc = tc; meta.batch = batch; meta.seed = (uint64_t)seed; /* meta.classes: above */
        meta.nranks = nranks; meta.data_n = ds.n;
        meta.crop = !no_crop;
        meta.flip = flip;
        memcpy(meta.background, bg, 3);
        if (!realpath(data, meta.data_path)) snprintf(meta.data_path, sizeof meta.data_path, "%s", data);
    }
    Loader loader;
    /* identical weights everywhere: rank 0's (they agree already when drawn from the seed) */
    Net *nets[2] = {&g.G, &g.D};
    for (int k = 0; k < 2 && nranks > 1; k++) {
        dist_broadcast(&dist, be, nets[k]->params, nets[k]->nparams);
        dist_broadcast(&dist, be, nets[k]->buffers, nets[k]->nbuf);
    }
    if (loader_start(&loader, &ds, batch, (uint64_t)seed, meta.flip, dist.rank, nranks, meta.epoch, meta.batch_in_epoch,
                     err, sizeof err) != 0)
        die("train: %s", err);

    /* fixed z for progress grids, and the real grid */
    /* evaluation during training: metrics.csv, fid_lenet.png and the report's metrics */
    Evaluator ev;
    int evaluating = 0;
    if (root && eval_every) {
        if (evaluator_init(&ev, be, eval_reference ? eval_reference : data, eval_n, NULL, err, sizeof err) != 0)
            die("train: --eval-every: %s", err);
        evaluating = 1;
        if (!resume) { /* a new run in an old folder starts its metrics afresh */
            char mp[4300];
            snprintf(mp, sizeof mp, "%s/metrics.csv", out);
            unlink(mp);
            snprintf(mp, sizeof mp, "%s/fid_lenet.png", out);
            unlink(mp);
        }
    }
    ProgressGrid pgrid;
    progress_grid_init(&pgrid, &mc, tc.zdist, (uint64_t)seed);
    /* The run folder's files are written on a thread of their own (io/writer.h) at most two
     * checkpoints behind, or with DCGAN_SYNC_WRITES=1 in the loop. */
    TbWriter tb;
    memset(&tb, 0, sizeof tb);
    RunFiles rf = {.out = out, .keep = keep, .tb = &tb};
    Writer wr;
    if (writer_open(&wr, root && !sync_writes, 2 * checkpoint_tensor_bytes(&g) + (64u << 20), err, sizeof err) != 0)
        die("train: %s", err);
    double real_spread = 0; /* the real images' grid's (train/health.h) */
    Sampler smp;
    sampler_init(&smp, be, &mc, pgrid.n);
    if (root) {
        const int n = ds.n < SAMPLE_N ? ds.n : SAMPLE_N;
        uint32_t idx[SAMPLE_N];
        for (int i = 0; i < n; i++) idx[i] = (uint32_t)((long)i * ds.n / n);
        float *real = xmalloc((size_t)n * mc.channels * mc.size * mc.size * sizeof(float));
        dataset_to_float(&ds, idx, n, real);
        real_spread = write_grid(&wr, &rf, "real_samples.png", -1, real, n, &mc);
        free(real);
    }

    Log log = {0};
    char csv[4300];
    snprintf(csv, sizeof csv, "%s/losses.csv", out);
    FILE *csvf = NULL;
    if (root) {
        if (resume) log_read_csv(&log, csv, meta.step);
        if (log_write_csv(&log, csv, err, sizeof err) != 0) die("%s", err);
        csvf = fopen(csv, "a");
        if (!csvf) die("train: cannot write %s: %s", csv, strerror(errno));
        if (!no_tensorboard && tb_open(&tb, out, err, sizeof err) != 0) die("train: %s", err);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!quiet)
        printf("train: %s %dx%dx%d, batch %d, g-steps %d, %s loss, %ld iterations (%ld per epoch) from step %ld, run folder %s\n",
               arch_name(mc.arch), mc.size, mc.size, mc.channels, batch, tc.g_steps, tc.loss == LOSS_NS ? "non-saturating" : "minimax",
               total, bpe, meta.step, out);
    if (!quiet && mc.nclasses) {
        char list[512];
        classes_list(meta.classes, list, sizeof list);
        printf("train: conditional on %d classes: %s; the sample grids show one class per row\n", mc.nclasses, list);
        if (mc.aux && mc.d_labels)
            printf("train: D sees the label and also classifies (a run from before checkpoint format 4), class loss "
                   "weight %g\n", tc.class_weight);
        else if (mc.aux)
            printf("train: G sees the label; D classifies (AC-GAN; its classifier learns from real images), class "
                   "loss weight %g%s\n", tc.class_weight, mc.proj ? ", and judges each image against its label "
                   "(projection)" : "");
        else printf("train: G and D see the label (carpedm20), no class loss\n");
    }
    if (!quiet && tc.ema > 0)
        printf("train: keeping a moving average of G's weights (decay %g) for sample, eval and export; the progress "
               "grids show the live G\n", tc.ema);
    if (!quiet && nranks > 1)
        printf("train: %d ranks x batch %d = global batch %d, learning rate %g, batch norm %s, gradients averaged by %s; "
               "rank 0 writes the files\n",
               nranks, batch, nranks * batch, tc.lr, sync_bn ? "over the global batch (--sync-bn)" : "per rank",
               dist.device_coll ? dist.in_graph ? "NCCL (inside the iteration's graph)" : "NCCL" : "MPI");
    if (!quiet && one_rank_test && nranks == 1)
        printf("train: DCGAN_TEST_NCCL_ONE_RANK: %s\n", !g.grad_average ? "no one-rank NCCL communicator (not under mpirun, "
               "or no NCCL here); the ordinary one-process path" : dist.in_graph ? "gradients averaged by NCCL "
               "(inside the iteration's graph) over one rank" : "gradients averaged by NCCL over one rank");
    {
        char where[600];
        snprintf(where, sizeof where, "The last checkpoint in %s is intact; continue with: mpirun -np %d dcgan train --resume %s",
                 out, nranks, out);
        dist_watchdog_start(&dist, dist_timeout, where);
    }
    /* Fault injection for the reliability tests (docs/faults.md): DCGAN_FAULT_NAN_STEP=N puts a NaN
     * into iteration N's real batch, which makes that step's losses NaN. */
    const char *fault = getenv("DCGAN_FAULT_NAN_STEP");
    const long nan_step = fault ? atol(fault) : 0;
    const int tty = isatty(STDOUT_FILENO);
    long last_saved = resume ? meta.step : -1; /* step of the newest checkpoint on disk */
    double t0 = now_seconds(), last_print = t0, window_t = t0;
    const double elapsed0 = meta.elapsed;
    const long meta_step0 = g.step;
    long window_steps = 0;
    double ips = 0;
    long epoch = meta.epoch, batch_in_epoch = meta.batch_in_epoch;
    int stop_reason = 0, diverged = 0;
    /* The losses are read back from the backend for several iterations at once, every flush_every
     * iterations and at every iteration where something is written or decided: on a GPU the host
     * then never waits for each iteration. */
    const int flush_every = be->graph_begin && (nranks == 1 || g.grad_in_graph) ? 32 : 1;
    struct { long step, e, b; } pend[STATS_RING];
    int npend = 0;
    long diverged_step = 0;
    /* the signs of a failed run (train/health.h), each told once until it has gone away: rule 1 for
     * a whole window, rule 2 at a grid */
    long d_wins_off = HEALTH_WINDOW;
    int alike = 0;
    while (g.step < total && !diverged && !stop_reason) {
        {
            long e, b;
            const int32_t *labels;
            const float *real = loader_next(&loader, &e, &b, &labels);
            gan_set_real(&g, real);
            if (mc.nclasses) gan_set_labels(&g, labels);
            if (nan_step && g.step + 1 == nan_step) {
                const float nanv = NAN;
                be->upload(be, g.real, &nanv, 1);
            }
            gan_iterate(&g);
            pend[npend].step = g.step; pend[npend].e = e; pend[npend].b = b;
            npend++;
            const long s = g.step;
            /* (the ranks must read back at the same steps: with several, a signal waits for the block's end) */
            const int due = npend >= flush_every || s == total || (nranks == 1 && g_stop_signal) || b + 1 == bpe ||
                            (sample_every && s % sample_every == 0) || (evaluating && s % eval_every == 0) ||
                            (checkpoint_every && s % checkpoint_every == 0);
            if (!due) continue;
        }
        StepStats sts[STATS_RING];
        gan_read_recent(&g, pend[0].step, npend, sts);
        const int nrows = npend;
        npend = 0;
        for (int i = 0; i < nrows; i++) {
            const long step = pend[i].step, e = pend[i].e, b = pend[i].b;
            StepStats st = sts[i];
            int stop_now = i == nrows - 1 ? g_stop_signal : 0;
            if (nranks > 1) { /* every rank logs and decides on the same averaged numbers */
                float v[7] = {st.d_loss_real, st.d_loss_fake, st.g_loss, st.d_x, st.d_gz, st.d_gz_g, g_stop_signal ? 1.0f : 0.0f};
                dist_average_host(&dist, v, 7);
                st.d_loss_real = v[0]; st.d_loss_fake = v[1]; st.d_loss = v[0] + v[1]; st.g_loss = v[2];
                st.d_x = v[3]; st.d_gz = v[4]; st.d_gz_g = v[5];
                /* another rank was interrupted: stop with it after the block's last iteration, the one
                 * whose weights a checkpoint now holds */
                if (v[6] > 0 && !stop_now && i == nrows - 1) stop_now = SIGINT;
                dist_heartbeat(&dist);
            }
            epoch = e;
            batch_in_epoch = b + 1;
            if (batch_in_epoch == bpe) { epoch++; batch_in_epoch = 0; }
            meta.epoch = epoch;
            meta.batch_in_epoch = batch_in_epoch;
            window_steps++;
            const double now = now_seconds();
            if (now - window_t >= 1.0) { ips = (double)window_steps * batch * nranks / (now - window_t); window_t = now; window_steps = 0; }
            LogRow row = {step, e, {st.d_loss_real, st.d_loss_fake, st.d_loss, st.g_loss, st.d_x, st.d_gz, ips,
                                      elapsed0 + now - t0}};
            if (!isfinite(st.d_loss) || !isfinite(st.g_loss)) {
                char kept[4400];
                if (last_saved >= 0) snprintf(kept, sizeof kept, "the last good checkpoint, %s/ckpt_%08ld.dcgan, is kept", out, last_saved);
                else snprintf(kept, sizeof kept, "no checkpoint had been written yet");
                if (root)
                    fprintf(stderr, "%sdcgan: training diverged at step %ld (d_loss %g, g_loss %g) and stopped; %s; "
                                    "try a smaller --lr or another --seed\n", tty && !quiet ? "\n" : "", step, st.d_loss, st.g_loss, kept);
                diverged = 1;
                diverged_step = step;
                break;
            }
            log_push(&log, &row);
            {
                double md, mg;
                if (!health_d_wins_at(&log, log.n - 1, tc.real_label, &md, &mg)) d_wins_off++;
                else {
                    if (d_wins_off >= HEALTH_WINDOW && root && !quiet) {
                        char least[64] = "";
                        if (tc.real_label < 1.0)
                            snprintf(least, sizeof least, " (its least %.3f at --real-label %g)",
                                     health_d_loss_floor(tc.real_label), tc.real_label);
                        fprintf(stderr, "%sdcgan: warning: at step %ld the discriminator wins (mean d_loss %.4f%s, D(G(z)) "
                                        "%.4f over the last %d iterations), so G's gradient vanishes; try %s\n",
                                tty ? "\n" : "", step, md, least, mg, HEALTH_WINDOW, health_d_wins_advice(tc.real_label));
                    }
                    d_wins_off = 0;
                }
            }
            char line[512];
            log_csv_line(line, sizeof line, &row);
            if (csvf && (fputs(line, csvf) == EOF || fflush(csvf) != 0)) die("train: cannot write %s: %s", csv, strerror(errno));
            if (tb.f) {
                const double wt = wall_seconds();
                for (int k = 0; k < LOG_ELAPSED; k++) tb_scalar(&tb, LOG_NAMES[k], step, wt, (float)row.v[k]);
            }
            const int epoch_end = batch_in_epoch == 0;
            const int last = step == total;
            meta.elapsed = elapsed0 + now - t0;
            if (root && ((sample_every && step % sample_every == 0) || epoch_end || last)) {
                char name[64];
                snprintf(name, sizeof name, "samples_%08ld.png", step);
                {
                    const double spread = write_samples(&wr, &rf, name, step, &smp, &g.G, &pgrid);
                    const double ratio = real_spread > 0 && spread >= 0 && step >= HEALTH_SPREAD_FROM ? spread / real_spread : -1;
                    if (ratio >= 0 && ratio < HEALTH_SPREAD && !alike && !quiet)
                        fprintf(stderr, "%sdcgan: warning: at step %ld the samples look alike (their spread is %.3f of the "
                                        "real images'; mode collapse); try " HEALTH_ALIKE_ADVICE "\n",
                                tty ? "\n" : "", step, ratio);
                    alike = ratio >= 0 && ratio < HEALTH_SPREAD;
                }
                /* (the run's last rewrite follows the loop) */
                if (!last) write_report(&wr, &rf, &meta, be->name, nthreads, total, "training", &log, REPORT_AT_GRID);
            }
            if (evaluating && (step % eval_every == 0 || last)) {
                evaluate_during_training(&ev, out, &g, (uint64_t)seed, eval_n);
                write_report(&wr, &rf, &meta, be->name, nthreads, total, "training", &log, REPORT_AT_SCORE);
            }
            if (tb.f && tb_flush(&tb, err, sizeof err) != 0) die("train: %s", err);
            if (root && ((checkpoint_every && step % checkpoint_every == 0) || last || stop_now)) {
                save_checkpoint(&wr, &rf, &g, &meta);
                last_saved = step;
            }
            if (!quiet && (tty || now - last_print >= 5.0 || last)) {
                char eta[32], el[32];
                fmt_time(eta, sizeof eta, ips > 0 ? (total - step) * batch / ips : -1);
                fmt_time(el, sizeof el, meta.elapsed);
                const int width = 24, fill = (int)((double)step / total * width);
                char bar[32];
                for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
                bar[width] = 0;
                char lr[32] = ""; /* under a decay, the learning rate the last step used */
                if (g.tc.lr_decay_to > 0)
                    snprintf(lr, sizeof lr, " lr %.3g", lr_at(g.tc.lr, g.tc.lr_decay_from, g.tc.lr_decay_to, step - 1));
                if (tty)
                    printf("\r[%s] epoch %ld step %ld/%ld d %.3f (real %.3f fake %.3f) g %.3f D(x) %.2f D(G(z)) %.2f%s %.0f img/s %s ETA %s ",
                           bar, e + 1, step, total, st.d_loss, st.d_loss_real, st.d_loss_fake, st.g_loss, st.d_x, st.d_gz, lr, ips, el, eta);
                else if (mc.aux)
                    printf("epoch %ld step %ld/%ld d_loss %.4f d_loss_real %.4f d_loss_fake %.4f g_loss %.4f D(x) %.3f D(G(z)) %.3f class loss D %.4f G %.4f%s images/s %.1f elapsed %s ETA %s\n",
                           e + 1, step, total, st.d_loss, st.d_loss_real, st.d_loss_fake, st.g_loss, st.d_x, st.d_gz, st.d_cls, st.g_cls, lr, ips, el, eta);
                else
                    printf("epoch %ld step %ld/%ld d_loss %.4f d_loss_real %.4f d_loss_fake %.4f g_loss %.4f D(x) %.3f D(G(z)) %.3f%s images/s %.1f elapsed %s ETA %s\n",
                           e + 1, step, total, st.d_loss, st.d_loss_real, st.d_loss_fake, st.g_loss, st.d_x, st.d_gz, lr, ips, el, eta);
                fflush(stdout);
                last_print = now;
            }
            if (stop_now) { stop_reason = stop_now; break; }
        }
    }
    if (!quiet && tty && !diverged) printf("\n");
    const int reduce_reps = 20; /* iterations' worth of all-reduces timed on their own */
    if (dist.in_graph)
        dist_time_device_average(&dist, be, g.D.grads, g.D.nparams, g.G.grads, g.G.nparams, tc.g_steps, reduce_reps);
    if (nranks > 1) { /* the ranks must hold the same weights; say so, and stop loudly if not */
        uint32_t *crcs = xmalloc((size_t)nranks * sizeof(uint32_t));
        dist_allgather_u32(&dist, training_state_crc(&g), crcs);
        int same = 1;
        for (int r = 1; r < nranks; r++) same &= crcs[r] == crcs[0];
        if (root) {
            printf("train: weights and Adam state on the %d ranks: crc32", nranks);
            for (int r = 0; r < nranks; r++) printf(" %08x", crcs[r]);
            printf(same ? " (identical)\n" : " (DIFFERENT)\n");
        }
        free(crcs);
        if (!same) die("train: the ranks' weights differ after step %ld; this is a bug, please report it", g.step);
    }
    if (root) {
        char state[64];
        if (diverged) snprintf(state, sizeof state, "diverged at step %ld", diverged_step);
        else snprintf(state, sizeof state, "%s", stop_reason ? "interrupted" : "done");
        write_report(&wr, &rf, &meta, be->name, nthreads, total, state, &log, REPORT_FINAL);
    }
    if (writer_drain(&wr, err, sizeof err) != 0) die("%s", err);
    writer_close(&wr);
    if (csvf) fclose(csvf);
    tb_close(&tb);
    loader_stop(&loader);
    if (!quiet && !diverged) {
        if (stop_reason)
            printf("train: interrupted at step %ld; checkpoint written. Continue with: dcgan train --resume %s --steps %ld\n",
                   g.step, out, total);
        else
            printf("train: done, %ld iterations in %.1fs; samples, losses.csv, loss plots and checkpoints are in %s\n",
                   g.step, meta.elapsed, out);
        if (g.grad_average && dist.reduce_calls && g.step > meta_step0) {
            const double per_iter = dist.reduce_s / (dist.in_graph ? reduce_reps : g.step - meta_step0);
            printf("train: gradient all-reduce %.2f ms per iteration (%.1f%% of the time%s)\n", 1e3 * per_iter,
                   100.0 * per_iter * (double)(g.step - meta_step0) / (meta.elapsed - elapsed0),
                   dist.in_graph ? "; recorded in the iteration's graph, so timed on its own after training" : "");
        }
    }
    progress_grid_free(&pgrid);
    spread_cache_free(&rf.spreads);
    log_free(&rf.log);
    log_free(&log);
    sampler_free(&smp);
    if (evaluating) evaluator_free(&ev);
    gan_free(&g);
    dataset_free(&ds);
    be->destroy(be);
    dist_finalize(&dist);
    return diverged ? 1 : stop_reason ? 128 + stop_reason : 0;
}
