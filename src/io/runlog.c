/* runlog.c: reading and writing losses.csv (see runlog.h). */
#include "runlog.h"
#include "fileio.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const LOG_NAMES[LOG_NV] = {"d_loss_real", "d_loss_fake", "d_loss", "g_loss",
                                       "d_x", "d_g_z", "images_per_s", "elapsed_s"};

void log_push(Log *l, const LogRow *row) {
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 1024; l->r = xrealloc(l->r, l->cap * sizeof(LogRow)); }
    l->r[l->n++] = *row;
}

void log_free(Log *l) { free(l->r); memset(l, 0, sizeof *l); }

void log_csv_line(char *buf, size_t n, const LogRow *r) {
    snprintf(buf, n, "%ld,%ld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", r->step, r->epoch, r->v[0], r->v[1], r->v[2],
             r->v[3], r->v[4], r->v[5], r->v[6], r->v[7]);
}

void log_read_csv(Log *log, const char *path, long upto) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    if (!fgets(line, sizeof line, f)) { fclose(f); return; }
    while (fgets(line, sizeof line, f)) {
        LogRow r;
        if (strchr(line, '\n') && /* a line cut short by a crash is not a row */
            sscanf(line, "%ld,%ld,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &r.step, &r.epoch, &r.v[0], &r.v[1], &r.v[2], &r.v[3],
                   &r.v[4], &r.v[5], &r.v[6], &r.v[7]) == 10 && r.step <= upto)
            log_push(log, &r);
    }
    fclose(f);
}

int log_write_csv(const Log *log, const char *path, char *err, size_t errlen) {
    AtomicFile a;
    char line[512];
    if (atomic_open(&a, path, err, errlen) != 0) return -1;
    int k = snprintf(line, sizeof line, "step,epoch");
    for (int i = 0; i < LOG_NV; i++) k += snprintf(line + k, sizeof line - k, ",%s", LOG_NAMES[i]);
    snprintf(line + k, sizeof line - k, "\n");
    atomic_write(&a, line, strlen(line));
    for (long i = 0; i < log->n; i++) {
        log_csv_line(line, sizeof line, &log->r[i]);
        atomic_write(&a, line, strlen(line));
    }
    return atomic_commit(&a, err, errlen);
}
