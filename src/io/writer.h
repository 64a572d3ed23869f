/* writer.h: the run folder's files written on a thread of their own, so that training goes on while
 * sample grids are PNG-encoded, checkpoints checksummed and written, fsync waits for the disk and the
 * report is rebuilt. On a GPU an iteration takes milliseconds, and those writes took a fifth to a
 * third of a run's time when the training loop waited for them.
 *
 * Jobs run one at a time in the order they were submitted, so a file a job reads (the report
 * embeds the grids) was written by the jobs before it. A job owns its argument, which holds a
 * copy of everything it needs: the caller may change its own state at once. A failed job's error
 * (one line) is returned by the next writer_submit or writer_drain, and the jobs after it are
 * dropped. Without a thread (background 0) writer_submit runs the job at once: the same files,
 * written in the same order. */
#ifndef DCGAN_WRITER_H
#define DCGAN_WRITER_H

#include <pthread.h>
#include <stddef.h>

typedef int (*WriterFn)(void *arg, char *err, size_t errlen); /* 0, or -1 with one line in err */

typedef struct WriterJob {
    WriterFn fn;
    void *arg;
    void (*free_arg)(void *arg);
    size_t bytes; /* memory the argument holds, for the bound on what may wait */
    struct WriterJob *next;
} WriterJob;

typedef struct {
    int background;
    size_t max_bytes; /* a submit waits while this much is queued (unless the queue is empty) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    WriterJob *head, *tail; /* queued, not yet started */
    int busy;               /* a job is running */
    size_t queued_bytes;    /* of the queued and the running job */
    int stop;
    int failed;
    char err[1024];         /* the first failed job's error */
} Writer;

/* background 1: start the thread. 0, or -1 with one line in err. */
int writer_open(Writer *w, int background, size_t max_bytes, char *err, size_t errlen);
/* Queues fn(arg) (or runs it, without a thread); free_arg(arg) is called after it, also when the job
 * is dropped. 0, or -1 with the error of this or an earlier job. */
int writer_submit(Writer *w, WriterFn fn, void *arg, void (*free_arg)(void *), size_t bytes, char *err, size_t errlen);
/* Waits until every job has run (what the jobs wrote in memory is then visible to the caller). 0,
 * or -1 with the first failed job's error. */
int writer_drain(Writer *w, char *err, size_t errlen);
/* Drains (an error is dropped: call writer_drain first to see it) and stops the thread. */
void writer_close(Writer *w);

#endif
