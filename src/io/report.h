/* report.h: what a run folder shows a person: index.html, a self-contained page (every image inline,
 * no network) with the configuration, the four loss curves of the article, D(x) and D(G(z)),
 * throughput and the fixed-z sample grids over training on a slider; and training.gif, the same
 * grids as an animation. Both are rebuilt from the folder's files and written atomically. */
#ifndef DCGAN_REPORT_H
#define DCGAN_REPORT_H

#include "checkpoint.h"
#include "runlog.h"
#include "../train/health.h"

#define REPORT_MAX_KV 40
#define RUN_GRID_COLS 8 /* the columns of a run folder's samples_*.png and real_samples.png: train
                           writes them so, the report measures their spread so */

typedef struct {
    int nkv;
    char key[REPORT_MAX_KV][32];
    char val[REPORT_MAX_KV][320];
    long total_steps; /* the run's planned length, 0 when unknown */
    const char *state; /* "training", "done", "interrupted", "diverged", ... */
    double real_label; /* D's target on real images (TrainConfig.real_label; 0 is taken as 1) */
    SpreadCache *spreads; /* the grids' spreads measured so far (train/health.h), which the report
                             uses and adds to; NULL: measure every grid */
} ReportInfo;

/* Fills info's configuration table from a run's metadata. */
void report_info_from_meta(ReportInfo *info, const CheckpointMeta *m, const char *backend, int threads);
/* Adds one row to the configuration table. */
void report_add(ReportInfo *info, const char *key, const char *fmt, ...);

/* Writes DIR/index.html from log and the samples_*.png / real_samples.png files in dir. 0, or -1
 * with one line in err. */
int report_write(const char *dir, const ReportInfo *info, const Log *log, char *err, size_t errlen);

/* Writes DIR/training.gif from the folder's samples_*.png grids (at most 100, evenly spread, the
 * last one held longer). 1 when there were no grids to animate, 0 when written, -1 with err. */
int report_write_gif(const char *dir, char *err, size_t errlen);

#endif
