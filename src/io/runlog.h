/* runlog.h: the training log of a run folder, losses.csv: one row per iteration with the four losses
 * of the article, D(x), D(G(z)), throughput and elapsed time. */
#ifndef DCGAN_RUNLOG_H
#define DCGAN_RUNLOG_H

#include <stddef.h>

enum { LOG_D_REAL, LOG_D_FAKE, LOG_D, LOG_G, LOG_DX, LOG_DGZ, LOG_IPS, LOG_ELAPSED, LOG_NV };
extern const char *const LOG_NAMES[LOG_NV]; /* the CSV column names of v[] */

typedef struct {
    long step, epoch;
    double v[LOG_NV];
} LogRow;

typedef struct { LogRow *r; long n, cap; } Log;

void log_push(Log *l, const LogRow *row);
void log_free(Log *l);
/* One CSV line, newline included. */
void log_csv_line(char *buf, size_t n, const LogRow *r);
/* Appends to log the rows of the CSV file at path with step <= upto (none when it is missing). */
void log_read_csv(Log *log, const char *path, long upto);
/* Writes the whole log as path atomically, header first. 0, or -1 with one line in err. */
int log_write_csv(const Log *log, const char *path, char *err, size_t errlen);

#endif
