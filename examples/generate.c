/* generate.c: libdcgan in a program of your own. Makes N images from a checkpoint and a seed,
 * writes them as raw float32 NCHW (the values `dcgan sample --seed S --raw` gives) and the first one
 * as a PGM/PPM you can open in an image viewer.
 *
 *   cc generate.c $(pkg-config --cflags --libs dcgan) -o generate
 *   ./generate runs/fashion 42 16 images.f32 first.pnm */
#include <dcgan.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s CHECKPOINT SEED N OUT.f32 FIRST.pnm\n", argv[0]);
        return 2;
    }
    char err[512];
    dcgan_generator *g = dcgan_open(argv[1], 0, err, sizeof err);
    if (!g) { fprintf(stderr, "generate: %s\n", err); return 1; }
    int nz, c, s;
    dcgan_shape(g, &nz, &c, &s);
    const int n = atoi(argv[3]);
    float *img = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * c * s * s);
    if (!img || dcgan_generate_seed(g, strtoull(argv[2], NULL, 10), n, img, err, sizeof err) != 0) {
        fprintf(stderr, "generate: %s\n", img ? err : "out of memory");
        return 1;
    }
    FILE *f = fopen(argv[4], "wb");
    if (!f || fwrite(img, sizeof(float), (size_t)n * c * s * s, f) != (size_t)n * c * s * s || fclose(f) != 0) {
        fprintf(stderr, "generate: cannot write %s\n", argv[4]);
        return 1;
    }
    f = fopen(argv[5], "wb"); /* image 0: P5 (gray) or P6 (RGB), planes interleaved */
    if (!f) { fprintf(stderr, "generate: cannot write %s\n", argv[5]); return 1; }
    fprintf(f, "P%d\n%d %d\n255\n", c == 1 ? 5 : 6, s, s);
    for (int i = 0; i < s * s; i++)
        for (int k = 0; k < c; k++) {
            const float v = (img[(size_t)k * s * s + i] + 1.0f) * 127.5f;
            fputc(v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5f), f);
        }
    if (fclose(f) != 0) { fprintf(stderr, "generate: cannot write %s\n", argv[5]); return 1; }
    printf("generate: %d images of %dx%dx%d from %s with %s\n", n, c, s, s, argv[1], dcgan_version());
    free(img);
    dcgan_close(g);
    return 0;
}
