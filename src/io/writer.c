/* writer.c: the run folder's background writer (see writer.h). */
#include "writer.h"
#include "../core/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void job_free(WriterJob *j) {
    if (j->free_arg) j->free_arg(j->arg);
    free(j);
}

static void *writer_main(void *p) {
    Writer *w = p;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head) break; /* stopping, and nothing left */
        WriterJob *j = w->head;
        w->head = j->next;
        if (!w->head) w->tail = NULL;
        w->busy = 1;
        const int skip = w->failed;
        pthread_mutex_unlock(&w->mu);
        char err[sizeof w->err] = "";
        const int rc = skip ? 0 : j->fn(j->arg, err, sizeof err);
        const size_t bytes = j->bytes;
        job_free(j);
        pthread_mutex_lock(&w->mu);
        if (rc != 0 && !w->failed) {
            w->failed = 1;
            snprintf(w->err, sizeof w->err, "%s", err[0] ? err : "a background write failed");
        }
        w->busy = 0;
        w->queued_bytes -= bytes;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int writer_open(Writer *w, int background, size_t max_bytes, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    w->background = background;
    w->max_bytes = max_bytes;
    if (!background) return 0;
    int rc = pthread_mutex_init(&w->mu, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&w->cv, NULL);
        if (rc != 0) pthread_mutex_destroy(&w->mu);
    }
    if (rc == 0) {
        /* SIGINT and SIGTERM go to the training thread, which finishes its step and checkpoints */
        sigset_t stop, old;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop, &old);
        rc = pthread_create(&w->thread, NULL, writer_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            pthread_cond_destroy(&w->cv);
            pthread_mutex_destroy(&w->mu);
        }
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the writer thread: %s", strerror(rc));
        w->background = 0;
        return -1;
    }
    return 0;
}

int writer_submit(Writer *w, WriterFn fn, void *arg, void (*free_arg)(void *), size_t bytes, char *err, size_t errlen) {
    if (!w->background) {
        if (w->failed) {
            if (free_arg) free_arg(arg);
            snprintf(err, errlen, "%s", w->err);
            return -1;
        }
        char e[sizeof w->err] = "";
        const int rc = fn(arg, e, sizeof e);
        if (free_arg) free_arg(arg);
        if (rc != 0) {
            w->failed = 1;
            snprintf(w->err, sizeof w->err, "%s", e[0] ? e : "a write failed");
            snprintf(err, errlen, "%s", w->err);
        }
        return rc;
    }
    WriterJob *j = xmalloc(sizeof *j);
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    j->bytes = bytes;
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    while (!w->failed && w->queued_bytes > 0 && w->queued_bytes + bytes > w->max_bytes) pthread_cond_wait(&w->cv, &w->mu);
    if (w->failed) {
        snprintf(err, errlen, "%s", w->err);
        pthread_mutex_unlock(&w->mu);
        job_free(j);
        return -1;
    }
    if (w->tail) w->tail->next = j;
    else w->head = j;
    w->tail = j;
    w->queued_bytes += bytes;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int writer_drain(Writer *w, char *err, size_t errlen) {
    if (w->background) {
        pthread_mutex_lock(&w->mu);
        while (w->head || w->busy) pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
    }
    if (w->failed) {
        snprintf(err, errlen, "%s", w->err);
        return -1;
    }
    return 0;
}

void writer_close(Writer *w) {
    if (!w->background) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->background = 0;
}
