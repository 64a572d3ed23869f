/* tensorboard.h: TensorBoard event files written natively: TFRecord framing (length, masked
 * CRC-32C of the length, the record, masked CRC-32C of the record) around Event protobufs holding
 * scalars (simple_value) and PNG images (Summary.Image). `tensorboard --logdir runs` reads them. */
#ifndef DCGAN_TENSORBOARD_H
#define DCGAN_TENSORBOARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char path[4300];
    int failed;         /* errno of the first write error */
    pthread_mutex_t mu; /* records may come from two threads (the trainer's and its writer's, io/writer.h) */
} TbWriter;

/* Creates DIR/events.out.tfevents.<time>.<host> and writes its file_version record. */
int tb_open(TbWriter *w, const char *dir, char *err, size_t errlen);
void tb_scalar(TbWriter *w, const char *tag, long step, double wall_time, float value);
void tb_image_png(TbWriter *w, const char *tag, long step, double wall_time, const uint8_t *png, size_t n, int width,
                  int height, int channels);
/* Pushes what is buffered to the file. 0, or -1 with one line in err. */
int tb_flush(TbWriter *w, char *err, size_t errlen);
void tb_close(TbWriter *w);

/* CRC-32C (Castagnoli), as TFRecord uses it, before masking. */
uint32_t crc32c(const uint8_t *p, size_t n);

#endif
