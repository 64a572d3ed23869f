/* tensorboard.c: TFRecord-framed Event protobufs (see tensorboard.h; field numbers from
 * tensorflow/core/util/event.proto and summary.proto). */
#include "tensorboard.h"
#include "protobuf.h"
#include "../core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t crc32c(const uint8_t *p, size_t n) {
    uint32_t table[256]; /* built per call: no global state, and 256 steps are nothing next to a record */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 255] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}
static uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u; }

static void record(TbWriter *w, Pb *event) {
    if (!w->f) { pb_free(event); return; }
    const uint64_t len = event->n;
    const uint32_t lc = masked(crc32c((const uint8_t *)&len, 8)), dc = masked(crc32c(event->p, event->n));
    pthread_mutex_lock(&w->mu);
    if (!w->failed && (fwrite(&len, 8, 1, w->f) != 1 || fwrite(&lc, 4, 1, w->f) != 1 || fwrite(event->p, 1, event->n, w->f) != event->n ||
        fwrite(&dc, 4, 1, w->f) != 1))
        w->failed = errno ? errno : EIO;
    pthread_mutex_unlock(&w->mu);
    pb_free(event);
}

/* Event: wall_time 1, step 2, file_version 3, summary 5. Summary: value 1. Value: tag 1,
 * simple_value 2, image 4. Image: height 1, width 2, colorspace 3, encoded_image_string 4. */
static void summary_event(TbWriter *w, long step, double wall_time, Pb *value) {
    Pb summary = {0}, ev = {0};
    pb_msg(&summary, 1, value);
    pb_double(&ev, 1, wall_time);
    pb_int(&ev, 2, step);
    pb_msg(&ev, 5, &summary);
    record(w, &ev);
}

int tb_open(TbWriter *w, const char *dir, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const double now = wall_seconds();
    /* the process id too, as TensorFlow's writers do: a run resumed within the same second as the
     * last one started gets its own file instead of appending to that one */
    snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s.%ld", dir, (long)now, host, (long)getpid());
    w->f = fopen(w->path, "ab");
    if (!w->f) { snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(errno)); return -1; }
    const int rc = pthread_mutex_init(&w->mu, NULL);
    if (rc != 0) {
        fclose(w->f);
        w->f = NULL;
        snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(rc));
        return -1;
    }
    Pb ev = {0};
    pb_double(&ev, 1, now);
    pb_bytes(&ev, 3, "brain.Event:2", 13);
    record(w, &ev);
    return tb_flush(w, err, errlen);
}

void tb_scalar(TbWriter *w, const char *tag, long step, double wall_time, float value) {
    Pb v = {0};
    pb_bytes(&v, 1, tag, strlen(tag));
    pb_float(&v, 2, value);
    summary_event(w, step, wall_time, &v);
}

void tb_image_png(TbWriter *w, const char *tag, long step, double wall_time, const uint8_t *png, size_t n, int width,
                  int height, int channels) {
    Pb img = {0}, v = {0};
    pb_int(&img, 1, height);
    pb_int(&img, 2, width);
    pb_int(&img, 3, channels);
    pb_bytes(&img, 4, png, n);
    pb_bytes(&v, 1, tag, strlen(tag));
    pb_msg(&v, 4, &img);
    summary_event(w, step, wall_time, &v);
}

int tb_flush(TbWriter *w, char *err, size_t errlen) {
    if (!w->f) return 0;
    pthread_mutex_lock(&w->mu);
    if (!w->failed && fflush(w->f) != 0) w->failed = errno ? errno : EIO;
    const int failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    if (failed) { snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(failed)); return -1; }
    return 0;
}

void tb_close(TbWriter *w) {
    if (!w->f) return;
    fclose(w->f);
    pthread_mutex_destroy(&w->mu);
    w->f = NULL;
}
