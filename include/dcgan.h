/* dcgan.h: libdcgan, the stable C API for using a trained generator in your own program.
 *
 *   char err[256];
 *   dcgan_generator *g = dcgan_open("runs/fashion", err, sizeof err);  // a checkpoint or run folder
 *   if (!g) { fprintf(stderr, "%s\n", err); return 1; }
 *   int nz, channels, size;
 *   dcgan_shape(g, &nz, &channels, &size);
 *   float *images = malloc(sizeof(float) * 16 * channels * size * size);
 *   dcgan_generate_seed(g, 42, 16, images);      // = the images of `dcgan sample --seed 42 -n 16`
 *   dcgan_close(g);
 *
 * Images are float32 [n][channels][size][size] (NCHW, PyTorch's order) with values in [-1, 1].
 * Batch norm uses the running statistics, so an image does not depend on n. Functions return 0 on
 * success or -1 with one line in err; the library never prints or exits on bad input (running out
 * of memory still ends the process, as in the dcgan command). Handles are independent: use one per
 * thread. Build with: cc app.c $(pkg-config --cflags --libs dcgan) */
#ifndef DCGAN_H
#define DCGAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DCGAN_API_VERSION 1

typedef struct dcgan_generator dcgan_generator;

/* The library's version string, e.g. "1.0.0 (api 1)". */
const char *dcgan_version(void);

/* Opens a checkpoint file, or a run folder (its newest checkpoint), on the CPU with `threads`
 * threads (0: all cores). NULL with one line in err on failure. A run trained with --ema generates
 * with the moving average of G's weights, as dcgan sample does. */
dcgan_generator *dcgan_open(const char *checkpoint, int threads, char *err, size_t errlen);

/* The latent size and the images' channels (1 or 3) and side. */
void dcgan_shape(const dcgan_generator *g, int *nz, int *channels, int *size);

/* n images from z [n][nz] into out [n][channels][size][size]. */
int dcgan_generate(dcgan_generator *g, const float *z, int n, float *out, char *err, size_t errlen);

/* n images from the z that `dcgan sample --seed seed` draws (image i is the same for any n). */
int dcgan_generate_seed(dcgan_generator *g, uint64_t seed, int n, float *out, char *err, size_t errlen);

/* Class-conditional models (dcgan train --conditional): the number of classes (0 for other models,
 * for which the two functions above are the ones to use; they refuse a conditional model). */
int dcgan_num_classes(const dcgan_generator *g);
/* n images from z [n][nz], image i of class labels[i] in [0, classes). */
int dcgan_generate_labels(dcgan_generator *g, const float *z, const int32_t *labels, int n, float *out, char *err,
                          size_t errlen);

void dcgan_close(dcgan_generator *g);

#ifdef __cplusplus
}
#endif
#endif
